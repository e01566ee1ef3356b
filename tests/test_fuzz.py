"""Fuzzing the CLI's entry point in-process: generated ``--set`` values, config documents,
metrics lines and checkpoint contents. Each call ends in exit 0 or one ``energan: error:`` line
(argparse's usage errors: exit 2), never a traceback.

``make test`` runs the bounded profile below; ``make fuzz`` runs it with many more examples
(``ENERGAN_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path

import pytest
import tomli_w
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quick_config import QUICK_CONFIG

from energan.cli import main
from energan.config import TrainSettings

EXAMPLES = int(os.environ.get("ENERGAN_FUZZ_EXAMPLES", "15"))
LONG = "ENERGAN_FUZZ_EXAMPLES" in os.environ  # make fuzz: fresh random examples; make test: the same ones on every run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, suppress_health_check=[HealthCheck.function_scoped_fixture])

SETTINGS = [field.name for field in dataclasses.fields(TrainSettings) if field.name not in ("runs_dir", "name", "steps", "device")]
COMPONENT_KEYS = [
    "energy.size", "energy.n_layers", "energy.distance", "energy.dropout", "energy.body", "loss.name", "loss.margin",
    "generator.size", "generator.latent_dim", "generator.name", "reg.pullaway.weight", "reg.pullaway.eps", "data.name",
]  # fmt: skip
KEYS = st.sampled_from([*SETTINGS, *COMPONENT_KEYS]) | st.text(min_size=1, max_size=12)
SCALARS = (
    st.integers(min_value=-(2**70), max_value=2**70).filter(lambda n: not 64 < abs(n) < 2**20)  # no network too wide to build fast
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=12)
)


def outcome(capsys: pytest.CaptureFixture[str], *argv: object) -> None:
    """Run ``energan ARGV``; the run ends in 0, or 1 with one error line, or argparse's 2."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse: usage and one error line
        code = exit_.code
        assert code == 2
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("energan: warning:")]
    if code != 0:
        assert code == 1 and lines[-1].startswith("energan: error: "), err


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(key=KEYS, value=SCALARS)
def test_generated_set_values(capsys: pytest.CaptureFixture[str], workdir: Path, key: str, value: object) -> None:
    config = workdir / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=2, runs=workdir / "runs"))
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    outcome(capsys, "train", "--config", config, "--name", "fuzz", "--steps", "2", "--set", f"{key}={value}")


TOML_VALUES = st.recursive(
    SCALARS.filter(lambda v: not (isinstance(v, float) and math.isnan(v))),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "size", "margin", "x"]), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(
    document=st.dictionaries(st.sampled_from([*SETTINGS[:12], "energy", "loss", "reg", "metrics", "data", "oops"]), TOML_VALUES, max_size=4)
)
def test_generated_config_documents(capsys: pytest.CaptureFixture[str], workdir: Path, document: dict) -> None:
    base = tomllib_loads(QUICK_CONFIG.format(steps=2, runs=workdir / "runs"))
    config = workdir / "doc.toml"
    config.write_text(tomli_w.dumps({**base, **document}))
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    outcome(capsys, "train", "--config", config, "--name", "fuzz", "--steps", "2")


def tomllib_loads(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished 2-step run whose files the examples below garble."""
    directory = tmp_path_factory.mktemp("trained")
    config = directory / "quick.toml"
    config.write_text(QUICK_CONFIG.format(steps=2, runs=directory / "runs"))
    assert main(["train", "--config", str(config), "--name", "run"]) == 0
    return directory / "runs" / "run"


@FUZZ
@given(lines=st.lists(st.binary(max_size=40) | st.text(max_size=40).map(str.encode), max_size=5))
def test_generated_metrics_lines(capsys: pytest.CaptureFixture[str], trained: Path, workdir: Path, lines: list[bytes]) -> None:
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run)
    (run / "metrics.jsonl").write_bytes((trained / "metrics.jsonl").read_bytes() + b"\n".join(lines))
    outcome(capsys, "plot", run, "-o", workdir / "curves.png")


CHECKPOINT_VALUES = st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=8) | st.just(torch.zeros(2)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(["format", "step", "best", "data", "model", "training"]), CHECKPOINT_VALUES, max_size=3))
def test_generated_checkpoint_contents(capsys: pytest.CaptureFixture[str], trained: Path, workdir: Path, changes: dict) -> None:
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run)
    path = run / "checkpoints" / "last.pt"
    torch.save({**torch.load(path, weights_only=True), **changes}, path)
    outcome(capsys, "sample", run, "-n", "4", "-o", workdir / "samples.png")
