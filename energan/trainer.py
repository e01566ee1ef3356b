"""The training loop: alternating energy (D) and generator (G) steps.

Scalars leave the device only at log time; observers run at log and evaluation intervals;
checkpoints are written only after the losses since the previous check proved finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from datetime import datetime
from pathlib import Path

import torch

from energan.assemble import assemble
from energan.checkpoint import Checkpoint, mark_best, remove_partial_writes, save_checkpoint
from energan.components import Metric
from energan.config import TrainConfig, resolve, save_config
from energan.data import ImageData
from energan.errors import CheckpointError, ConfigError, DivergenceError
from energan.lock import run_lock
from energan.plugins import Plugins, load_plugins
from energan.resume import check_resume_changes, load_resumable, restore_training
from energan.run import Run
from energan.scoring import Objective, build_metrics, check_requirements, evaluate, objective
from energan.state import TrainingState
from energan.step import StepOutput, TrainStep


def train(config: TrainConfig, *, plugins: Plugins | None = None, resume: Path | None = None) -> Run:
    """Train (or, with ``resume``, continue) a run; returns it with its final status and metrics.
    One process at a time per run directory (an OS lock that dies with its holder)."""
    plugins = plugins or load_plugins()
    config = resolve(config, plugins.registries)
    run_dir = Path(resume) if resume else _run_dir(config)
    with run_lock(run_dir):
        remove_partial_writes(run_dir)
        if resume:
            check_resume_changes(run_dir, config, plugins.registries)
            saved = load_resumable(run_dir)
        else:
            _check_new(run_dir)
            saved = None
        return _train(config, plugins, run_dir, saved)


def _train(config: TrainConfig, plugins: Plugins, run_dir: Path, saved: Checkpoint | None) -> Run:
    data, state = assemble(config, plugins)
    metrics = build_metrics(config.table_params("metrics"), plugins.registries)
    check_requirements(metrics, data)
    ranking = objective(metrics, config.settings.objective)
    start_step, best = 0, None
    if saved is not None:
        _check_same_data(saved, data, run_dir)
        restore_training(state, saved, config.settings)
        start_step, best = saved.step, saved.best
    run = Run(run_dir.name, run_dir, config, data, state.model, start_step, step=start_step, objective=ranking)
    save_config(run_dir / "config.toml", config, {info.name: info.version for info in plugins.info()})
    plugins.notify("on_train_start", run=run)
    try:
        with _stop_on_interrupt(run):
            _loop(run, state, Scoring(metrics, ranking, best), plugins)
    except DivergenceError:
        run.status = "diverged"
        raise
    except KeyboardInterrupt:
        run.status = "interrupted"
        raise
    except BaseException:
        run.status = "failed"
        raise
    finally:
        plugins.notify("on_train_end", run=run)
    return run


@dataclasses.dataclass
class Scoring:
    """The run's metrics, the objective that ranks its checkpoints and the best value so far."""

    metrics: dict[str, Metric]
    objective: Objective | None
    best: float | None

    def improved(self, values: dict[str, float]) -> bool:
        """Record ``values``; True when the objective beat the best so far."""
        if self.objective is None or self.objective.key not in values:
            return False
        value = values[self.objective.key]
        if not self.objective.better(value, self.best):
            return False
        self.best = value
        return True


def _check_same_data(saved: Checkpoint, data: ImageData, run_dir: Path) -> None:
    """A run continues on the data it was trained on."""
    if saved.data.fingerprint != data.info.fingerprint:
        raise CheckpointError(
            f"{run_dir} was trained on dataset {saved.data.key!r} (fingerprint {saved.data.fingerprint}); "
            f"the configured data {data.key!r} differ (fingerprint {data.info.fingerprint}): resume with the same data"
        )


def _run_dir(config: TrainConfig) -> Path:
    """``runs_dir/name``; a name that would leave ``runs_dir`` (``../x``, ``a/b``) is refused."""
    settings = config.settings
    name = settings.name or "-".join([config.energy.name, config.loss.name, *config.regularizers, datetime.now().strftime("%Y%m%d-%H%M%S")])
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(f"run name {name!r} must be a single directory name inside runs_dir {settings.runs_dir!r} (no '/', '..')")
    return Path(settings.runs_dir) / name


def _check_new(run_dir: Path) -> None:
    if (run_dir / "checkpoints").exists():
        raise CheckpointError(f"run directory {run_dir} already exists; continue it with --resume {run_dir} or pick another --name")


@contextlib.contextmanager
def _stop_on_interrupt(run: Run):
    """First Ctrl-C: finish the step, checkpoint, stop. A second one interrupts at once."""

    def handler(signum: int, frame: object) -> None:
        if run.stop_requested:
            raise KeyboardInterrupt
        run.request_stop()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _loop(run: Run, state: TrainingState, scoring: Scoring, plugins: Plugins) -> None:
    settings = run.config.settings
    with contextlib.closing(TrainStep(state, run.data, settings)) as train_step:  # stops data workers
        healthy = torch.ones((), dtype=torch.bool, device=state.device)
        last_check_step = last_log_step = run.step
        tick = time.perf_counter()
        while run.step < settings.steps and not run.stop_requested:
            out = train_step(run.step)
            healthy &= torch.isfinite(out.total_d) & torch.isfinite(out.total_g)
            run.step += 1

            # ---- logging, evaluation, checkpoints (host syncs happen only here) ----
            last = run.step == settings.steps or run.stop_requested
            if run.step % settings.log_every == 0 or last:
                _check_healthy(healthy, run, last_check_step, out)
                last_check_step = run.step
                now = time.perf_counter()
                logs = {
                    "loss_d": out.loss_d.item(),
                    "loss_g": out.loss_g.item(),
                    "energy_real": out.energies_real.float().mean().item(),
                    "energy_fake": out.energies_fake.float().mean().item(),
                    **{f"reg_{name}": value.item() for name, value in out.regularizers.items()},
                    **{name: value.item() for name, value in state.loss.diagnostics(out.energies_real, out.energies_fake).items()},
                    "it_per_s": (run.step - last_log_step) / max(now - tick, 1e-9),
                }
                last_log_step, tick = run.step, now
                plugins.notify("on_log", run=run, step=run.step, logs=logs)
            improved = False
            if (settings.eval_every and run.step % settings.eval_every == 0) or last:
                run.metrics = evaluate(scoring.metrics, run.sample, run.data, final=last)
                plugins.notify("on_evaluate", run=run, step=run.step, metrics=run.metrics)
                improved = scoring.improved(run.metrics)
            if run.step % settings.checkpoint_every == 0 or last or improved or run.stop_requested:
                _check_healthy(healthy, run, last_check_step, out)
                last_check_step = run.step
                checkpoint = Checkpoint(run.step, scoring.best, run.data.info, state.model.state_dict(), state.state_dict())
                save_checkpoint(run.directory, checkpoint, settings.keep_checkpoints)
                if improved:
                    mark_best(run.directory)
        run.status = "stopped" if run.stop_requested and run.step < settings.steps else "finished"


def _check_healthy(healthy: torch.Tensor, run: Run, since: int, out: StepOutput) -> None:
    """Every loss since the last check was finite, and the energies did not explode (their mean
    magnitude stays under ``max_energy``): otherwise stop before a bad checkpoint is written."""
    limit = run.config.settings.max_energy
    energies = {"E_real": out.energies_real.float().mean().item(), "E_fake": out.energies_fake.float().mean().item()}
    if bool(healthy) and not (limit and any(abs(value) > limit for value in energies.values())):
        return
    last = run.directory / "checkpoints" / "last.pt"
    kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written before it"
    seen = ", ".join(f"{name} {value:.4g}" for name, value in energies.items())
    what = "loss became NaN or infinite" if not bool(healthy) else f"energies exploded past max_energy {limit:g}"
    raise DivergenceError(
        f"{what} between steps {since} and {run.step} (D loss {out.total_d.item():.4g}, G loss {out.total_g.item():.4g}, {seen}); "
        f"{kept}; try a lower learning rate"
    )
