"""Every hook specification has a docs entry and a test that uses it (as datasette does)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from energan import hookspecs, kinds

ROOT = Path(__file__).parents[1]
REGISTRATION = vars(hookspecs.registration_hooks(kinds.KINDS))  # one per component kind, made from its record
HOOKS = sorted(
    name for name, value in {**vars(hookspecs), **REGISTRATION}.items() if inspect.isfunction(value) and hasattr(value, "energan_spec")
)


def test_there_are_hooks() -> None:
    assert {"register_energies", "register_losses", "on_log", "on_train_end"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    assert f"### {hook}\n" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    sources = [p.read_text() for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name]
    assert any(f"def {hook}(" in source for source in sources), f"no test plugin implements {hook}"
