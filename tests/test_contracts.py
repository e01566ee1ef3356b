"""The contracts of metrics, observers and plugin registration: objective by name and direction,
observers isolated, invalid registrations skipped, evaluation outside the training RNG."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import optuna
import pytest
import torch

from energan.checkpoint import load_checkpoint
from energan.config import TrainConfig, read_toml, resolve
from energan.errors import ConfigError
from energan.metrics.heldout import KEYS as HELDOUT_KEYS
from energan.metrics.scoring import build_metrics, evaluate, objective
from energan.plugins import PluginWarning, load_plugins
from energan.status import RunStatus
from energan.sweep.results import load_results, summarize
from energan.sweep.study import open_storage
from energan.trainer import train

# A metric whose best value is the lowest: the mean pixel of the samples (darker is "better").
DARKNESS_PLUGIN = """
    from dataclasses import dataclass

    from energan import hookimpl
    from energan.params import param


    @dataclass(frozen=True)
    class DarknessParams:
        samples: int = param(32, "samples scored", low=1)


    class Darkness:
        name = "darkness"
        higher_is_better = False
        requires = frozenset()

        def __init__(self, params):
            self.samples = params.samples

        def prepare(self, data):
            pass  # nothing to cache

        def evaluate(self, generate, data, final=True):
            torch_rng_draw = None  # a metric may use randomness freely: the trainer forks the RNG around it
            import torch

            torch.rand(3)
            return {"darkness": generate(self.samples).mean().item(), "darkness_samples": float(self.samples)}


    @hookimpl
    def register_metrics(register):
        register("darkness", Darkness, params=DarknessParams)
"""


def plugin_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / f"plugin_{uuid.uuid4().hex}.py"
    path.write_text(textwrap.dedent(source))
    return path


def quick(tmp_path: Path, quick_config, steps: int, extra: str = "") -> TrainConfig:
    return TrainConfig.from_dict(read_toml(quick_config(steps, extra)))


def test_best_checkpoint_follows_a_lower_is_better_objective(tmp_path: Path, quick_config) -> None:
    plugins = load_plugins([str(plugin_file(tmp_path, DARKNESS_PLUGIN))])
    config = quick(tmp_path, quick_config, 12, "darkness = {}\n").replace_settings(eval_every=2, checkpoint_every=100, name="dark")
    run = train(config, plugins=plugins)
    assert run.status == "finished" and set(run.metrics) == {"darkness", "darkness_samples", *HELDOUT_KEYS}  # train() returns them
    evals = [json.loads(line) for line in (run.directory / "metrics.jsonl").read_text().splitlines()]
    evals = [row for row in evals if row["kind"] == "eval"]
    lowest = min(evals, key=lambda row: row["darkness"])
    best = load_checkpoint(run.directory / "checkpoints" / "best.pt")
    assert best.step == lowest["step"] and best.best == pytest.approx(lowest["darkness"])


def test_objective_names_a_configured_metric(tmp_path: Path) -> None:
    plugins = load_plugins([str(plugin_file(tmp_path, DARKNESS_PLUGIN))])
    config = TrainConfig.from_dict({"metrics": {"darkness": {}}})
    metrics = build_metrics(resolve(config, plugins.registries).metrics, plugins.registries)
    assert objective(metrics, "").higher_is_better is False and objective(metrics, "darkness").key == "darkness"
    with pytest.raises(ConfigError, match="objective 'fid' is not one of the run's metrics \\(darkness\\); add it with --metric fid"):
        objective(metrics, "fid")


def test_evaluation_leaves_the_training_rng_alone(tmp_path: Path) -> None:
    plugins = load_plugins([str(plugin_file(tmp_path, DARKNESS_PLUGIN))])
    metrics = build_metrics(resolve(TrainConfig.from_dict({"metrics": {"darkness": {}}}), plugins.registries).metrics, plugins.registries)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    evaluate(metrics, lambda n: torch.randn(n, 1, 8, 8), None, final=True)
    assert torch.equal(torch.get_rng_state(), before)


def test_sweep_objective_with_a_lower_is_better_metric_picks_the_lowest_point(tmp_path: Path) -> None:
    plugin = plugin_file(tmp_path, DARKNESS_PLUGIN)
    grid = tmp_path / "seeds.toml"
    grid.write_text('[knobs]\nseed = [0, 1, 2]\n[set]\nbatch_size = 16\n"generator.size" = 16\n"energy.size" = 16\n')
    storage = f"sqlite:///{tmp_path / 'sweeps.db'}"
    command = [
        sys.executable,
        "-m",
        "energan.cli",
        "-p",
        str(plugin),
        "sweep",
        "--grid",
        str(grid),
        "--family",
        "ebgan",
        "--objective",
        "darkness",
        "--steps",
        "4",
        "--storage",
        storage,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--data",
        "digits",
        "--heartbeat",
        "1",
        "--threads",
        "1",
        "--study",
        "dark",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="dark/ebgan", storage=open_storage(storage))
    values = [trial.value for trial in study.get_trials() if trial.state == optuna.trial.TrialState.COMPLETE]
    assert len(values) == 3 and study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.best_value == min(values)
    assert f"best {min(values):.3f}" in result.stdout
    (family,) = load_results(open_storage(storage), "dark")
    assert summarize(family.points, threshold=0.0, higher_is_better=family.higher_is_better).best == min(values)


OBSERVER_PLUGIN = """
    from energan import hookimpl

    calls = []

    @hookimpl
    def on_log(run, step, logs):
        calls.append(step)
        raise RuntimeError("observer bug")
"""


def test_an_observer_that_raises_is_disabled_and_training_goes_on(tmp_path: Path, quick_config) -> None:
    path = plugin_file(tmp_path, OBSERVER_PLUGIN)
    plugins = load_plugins([str(path)])
    with pytest.warns(PluginWarning, match=f"observer plugin '{path}' raised in on_log \\(RuntimeError: observer bug\\); it is disabled"):
        run = train(quick(tmp_path, quick_config, 8), plugins=plugins)
    assert run.status is RunStatus.FINISHED and run.status == "finished" and run.step == 8  # an enum that is its string
    assert sys.modules[path.stem].calls == [2]  # called once, then never again
    kinds = [json.loads(line)["kind"] for line in (run.directory / "metrics.jsonl").read_text().splitlines()]
    assert kinds == ["start"] + ["train"] * 4 + ["eval"]  # the other observers kept logging


INVALID_REGISTRATION = """
    from energan import hookimpl

    @hookimpl
    def register_losses(register):
        register("bad name!", lambda: None)
        register("fine-loss", lambda: None)
"""


def test_an_invalid_registration_is_skipped_with_a_warning(tmp_path: Path, cli) -> None:
    path = plugin_file(tmp_path, INVALID_REGISTRATION)
    with pytest.warns(PluginWarning, match=f"plugin '{path}' registered loss name 'bad name!': .*; that registration was skipped"):
        losses = load_plugins([str(path)]).registries.losses
    assert "fine-loss" in losses and "margin" in losses
    code, out, _ = cli("-p", str(path), "plugins")
    assert code == 0 and "fine-loss" in out


HYPHEN_ENERGY = """
    import math

    from energan import hookimpl


    def build(shape):
        from torch import nn

        class Norm(nn.Module):
            energy_range = (0.0, math.inf)

            def __init__(self):
                super().__init__()
                self.scale = nn.Parameter(1.0 + __import__("torch").zeros(math.prod(shape)))

            def forward(self, x):
                return (x.flatten(1) * self.scale).square().mean(dim=1)

        return Norm()


    @hookimpl
    def register_energies(register):
        register("my-energy", build)
"""


def test_a_hyphenated_plugin_name_is_listed_and_trains(tmp_path: Path, quick_config, cli) -> None:
    path = plugin_file(tmp_path, HYPHEN_ENERGY)
    code, out, _ = cli("-p", str(path), "plugins")
    assert code == 0 and "my-energy" in out
    code, _, err = cli("-p", str(path), "train", "--config", str(quick_config(4)), "--energy", "my-energy", "--name", "hyphen")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "runs" / "hyphen").step == 4


def test_the_margin_loss_refuses_an_energy_unbounded_below(tmp_path: Path, quick_config, cli) -> None:
    code, _, err = cli("train", "--config", str(quick_config(4)), "--energy", "logit", "--loss", "margin")
    assert code != 0
    assert "loss 'margin' needs energies ≥ 0, but energy 'logit' ranges over [-inf, inf]" in err
    assert len(err.strip().splitlines()) == 1


WRONG_SIDE = """
    from energan import hookimpl
    from energan.components import Regularizer


    class EnergySide(Regularizer):
        side = "energy"  # the optimizer's name, not a side of the game

        def __call__(self, inputs):
            return inputs.out_real.energy.mean()


    @hookimpl
    def register_regularizers(register):
        register("energy_side", lambda: EnergySide(weight=1.0))
"""


def test_a_regularizer_on_no_side_of_the_game_is_a_one_line_error(tmp_path: Path, quick_config, cli) -> None:
    path = plugin_file(tmp_path, WRONG_SIDE)
    code, _, err = cli("-p", path, "train", "--config", quick_config(steps=2), "--reg", "energy_side", "--name", "side")
    assert (code, err) == (1, "energan: error: regularizer 'energy_side' declares side 'energy'; valid: discriminator, generator\n")


BARE_LOSS = """
    from energan import hookimpl


    class BareMargin:
        '''The margin loss with only the protocol's two methods: no Loss base, no state.'''

        domain = (0.0, float("inf"))

        def discriminator(self, s_real, s_fake):
            return s_real.mean() + (1.0 - s_fake).clamp(min=0).mean()

        def generator(self, s_fake):
            return s_fake.mean()


    @hookimpl
    def register_losses(register):
        register("bare_margin", BareMargin)
"""


def test_a_loss_with_only_the_protocols_two_methods_trains_and_keeps_its_domain(tmp_path: Path, quick_config, cli) -> None:
    """It used to end in a traceback at the first step (the trainer called its missing ``update``)."""
    path = plugin_file(tmp_path, BARE_LOSS)
    code, _, err = cli("-p", path, "train", "--config", quick_config(steps=3), "--loss", "bare_margin", "--name", "bare")
    assert code == 0, err
    code, _, err = cli(
        "-p", path, "train", "--config", quick_config(steps=3), "--loss", "bare_margin", "--energy", "logit", "--name", "logit"
    )
    assert code == 1 and "loss 'bare_margin' needs energies ≥ 0" in err  # its declared domain refuses an energy unbounded below


OPT_IN_OBSERVER = """
    from energan import hookimpl

    OPT_IN = True


    @hookimpl
    def on_train_start(run):
        (run.directory / "watched").write_text("yes")
"""


def test_an_opt_in_observer_runs_only_when_log_names_it(tmp_path: Path, quick_config, cli) -> None:
    path = plugin_file(tmp_path, OPT_IN_OBSERVER)
    name = str(path)  # a plugin loaded with -p FILE is named by that path (an entry point by its name)
    assert cli("-p", path, "train", "--config", quick_config(steps=2), "--name", "plain")[0] == 0
    assert cli("-p", path, "train", "--config", quick_config(steps=2), "--name", "watched", "--log", name)[0] == 0
    runs = tmp_path / "runs"
    assert not (runs / "plain" / "watched").exists() and (runs / "watched" / "watched").read_text() == "yes"
    code, _, err = cli("-p", path, "train", "--config", quick_config(steps=2), "--log", "nothing")
    assert code == 1 and f"log: 'nothing' is not an observer; valid: tensorboard, {name}" in err
