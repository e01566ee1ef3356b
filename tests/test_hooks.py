"""Each hook, exercised by a plugin object registered the way tests register plugins (as in llm)."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from energan import hookimpl, load_plugins
from energan.cli import build_parser
from energan.config import TrainConfig
from energan.data import ImageData
from energan.errors import PluginError
from energan.params import param
from energan.plugins import DEFAULT_PLUGINS, PluginWarning
from energan.trainer import train


@dataclass(frozen=True)
class StripesParams:
    count: int = param(32, "images", low=2)


def stripes(params: StripesParams, data_dir: str | None) -> ImageData:
    """Vertical stripes at each of 8 positions: a dataset with known content."""
    images = -torch.ones(params.count, 1, 8, 8)
    for index in range(params.count):
        images[index, 0, :, index % 8] = 1.0
    return ImageData(key="stripes", train_images=images)


class Stripes:
    """A plugin registering one component of every kind, and recording the lifecycle."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    @hookimpl
    def register_energies(self, register: Any) -> None:
        def squared_norm(shape: tuple[int, int, int]) -> nn.Module:
            """s(x) = ‖Wx‖²: returns a plain [B] tensor, so energan wraps it."""

            class SquaredNorm(nn.Module):
                energy_range = (0.0, float("inf"))

                def __init__(self) -> None:
                    super().__init__()
                    self.linear = nn.Linear(64, 8)

                def forward(self, x: torch.Tensor) -> torch.Tensor:
                    return self.linear(x.flatten(1)).square().sum(dim=1)

            return SquaredNorm()

        register("squared_norm", squared_norm)

    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register("stripes", stripes, params=StripesParams)

    @hookimpl
    def register_generators(self, register: Any) -> None:
        def linear(shape: tuple[int, int, int]) -> nn.Module:
            """z → image through one linear layer."""
            generator = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, shape))
            generator.latent_dim = 4
            return generator

        register("linear", linear)

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        class Brightness:
            name = "brightness"
            higher_is_better = True
            requires = frozenset()

            def prepare(self, data):
                """Nothing to cache."""

            def evaluate(self, generate: Any, data: Any, final: bool) -> dict[str, float]:
                return {"brightness": generate(10).mean().item()}

        register("brightness", Brightness, description="mean pixel value")

    @hookimpl
    def register_regularizers(self, register: Any) -> None:
        from energan.components import Regularizer

        class EnergyScale(Regularizer):
            side = "discriminator"

            def __call__(self, inputs: Any) -> torch.Tensor:
                return inputs.real_output.energy.square().mean()

        register("energy_scale", lambda: EnergyScale(weight=0.5))

    @hookimpl
    def register_commands(self, cli: argparse._SubParsersAction) -> None:
        cli.add_parser("stripes", help="say hello").set_defaults(handler=lambda args: 7)

    @hookimpl
    def on_train_start(self, run: Any) -> None:
        self.events.append(("on_train_start", run.step))

    @hookimpl
    def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        assert {"loss_d", "loss_g", "energy_real", "energy_fake", "reg_energy_scale", "it_per_s"} <= set(logs)
        self.events.append(("on_log", step))

    @hookimpl
    def on_evaluate(self, run: Any, step: int, metrics: dict[str, float]) -> None:
        assert -1.0 <= metrics["brightness"] <= 1.0
        self.events.append(("on_evaluate", step))

    @hookimpl
    def on_train_end(self, run: Any) -> None:
        self.events.append((f"on_train_end:{run.status}", run.step))


def test_every_kind_of_component_and_the_lifecycle_order(tmp_path: Path) -> None:
    plugins = load_plugins()
    recorder = Stripes()
    plugins.manager.register(recorder, name="stripes-plugin")
    config = TrainConfig.from_dict(
        {
            "steps": 4,
            "batch_size": 8,
            "log_every": 2,
            "eval_every": 2,
            "runs_dir": str(tmp_path),
            "name": "s",
            "device": "cpu",
            "data": {"name": "stripes", "count": 16},
            "generator": {"name": "linear"},
            "energy": {"name": "squared_norm"},
            "reg": {"energy_scale": {}},
            "metrics": {"brightness": {}},
        }
    )
    run = train(config, plugins=plugins)
    assert run.status == "finished"
    assert recorder.events == [
        ("on_train_start", 0),
        ("on_log", 2),
        ("on_evaluate", 2),
        ("on_log", 4),
        ("on_evaluate", 4),
        ("on_train_end:finished", 4),
    ]
    assert (tmp_path / "s" / "samples" / "step-0000004.png").exists()


def test_plugin_commands_join_the_cli() -> None:
    plugins = load_plugins()
    plugins.manager.register(Stripes(), name="stripes-plugin")
    args = build_parser(plugins).parse_args(["stripes"])
    assert args.handler(args) == 7


def test_a_raising_registration_hook_is_skipped_with_a_warning() -> None:
    class Broken:
        @hookimpl
        def register_losses(self, register: Any) -> None:
            register("half_registered", lambda: None)
            raise RuntimeError("boom")

    plugins = load_plugins()
    plugins.manager.register(Broken(), name="broken-losses")
    with pytest.warns(PluginWarning, match="plugin 'broken-losses' was skipped: its register_losses hook raised RuntimeError: boom"):
        losses = plugins.registries.losses
    assert "margin" in losses and "half_registered" not in losses  # nothing of the broken hook is kept


def test_a_name_registered_by_two_plugins_names_both() -> None:
    class Impostor:
        @hookimpl
        def register_losses(self, register: Any) -> None:
            register("margin", lambda: None)

    plugins = load_plugins()
    plugins.manager.register(Impostor(), name="impostor")
    with pytest.raises(PluginError, match=r"loss 'margin' is registered by two plugins: 'margin' and 'impostor'|'impostor' and 'margin'"):
        _ = plugins.registries


def test_blocked_builtin_is_not_loaded() -> None:
    plugins = load_plugins(["no:lsif"])
    assert "lsif" not in plugins.registries.losses and "margin" in plugins.registries.losses


def test_strict_mode_reraises_import_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PluginError, match="plugin 'energan_no_such_module': import failed with ModuleNotFoundError"):
            load_plugins(["energan_no_such_module"], strict=True)
    with pytest.warns(PluginWarning, match="energan_no_such_module"):
        load_plugins(["energan_no_such_module"])


@dataclass(frozen=True)
class FakeDistribution:
    name: str
    version: str = "1.0"


@dataclass(frozen=True)
class FakeEntryPoint:
    """An ``energan`` entry point as importlib.metadata lists it, from a given distribution."""

    name: str
    value: str
    dist: FakeDistribution

    def load(self) -> Any:
        raise AssertionError(f"entry point {self.name!r} must not be loaded")


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entry_points: FakeEntryPoint) -> None:
    monkeypatch.setattr("energan.plugins._entry_points", lambda: entry_points)


def test_a_third_party_entry_point_named_like_a_builtin_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, FakeEntryPoint("margin", "impostor_pkg.margin", FakeDistribution("energan-impostor")))
    warning = r"^plugin 'margin' \(distribution energan-impostor\) was skipped: a built-in plugin has that name$"
    with pytest.warns(PluginWarning, match=warning):
        plugins = load_plugins()
    assert plugins.registries.losses.get("margin").plugin == "margin"  # the built-in stands
    assert next(info for info in plugins.info() if info.name == "margin").distribution == "energan"
    with pytest.raises(PluginError, match=r"plugin 'margin' \(distribution energan-impostor\)"):
        load_plugins(strict=True)


def test_an_entry_point_naming_the_builtin_itself_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older energan installs listed their built-ins as entry points too: those are the built-ins."""
    builtins = [FakeEntryPoint(name, f"energan.default_plugins.{name}", FakeDistribution("energan")) for name in DEFAULT_PLUGINS]
    fake_entry_points(monkeypatch, *builtins)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugins = load_plugins(strict=True)
    assert {info.name for info in plugins.info()} >= set(DEFAULT_PLUGINS)


BAD_PLUGINS = {
    "typo.py": "from energan import hookimpl\n\n@hookimpl\ndef on_tran_start(run):\n    pass\n",
    "exit_at_import.py": "import sys\n\nsys.exit(0)\n",
    "exit_in_observer.py": "import sys\n\nfrom energan import hookimpl\n\n@hookimpl\ndef on_log(run, step, logs):\n    sys.exit(0)\n",
}


@pytest.mark.parametrize(
    ("plugin", "warning"),
    [
        ("typo.py", r"implements 'on_tran_start', which is no energan hook \(did you mean 'on_train_start'\?\); it is never called"),
        ("exit_at_import.py", r"was skipped: import failed with SystemExit: 0"),
        ("exit_in_observer.py", r"raised in on_log \(SystemExit: 0\); it is disabled, training goes on"),
    ],
    ids=["misspelled-hook", "sys-exit-at-import", "sys-exit-in-an-observer"],
)
def test_a_plugin_that_misbehaves_is_reported_and_the_run_finishes(cli, quick_config, tmp_path: Path, plugin: str, warning: str) -> None:
    path = tmp_path / plugin
    path.write_text(BAD_PLUGINS[plugin])
    with pytest.warns(PluginWarning, match=warning):
        code, out, err = cli("-p", path, "train", "--config", quick_config(steps=4), "--name", "run")
    assert code == 0 and out.startswith("finished:"), err
