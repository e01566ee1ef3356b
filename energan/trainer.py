"""The training loop: alternating energy (D) and generator (G) steps.

Scalars leave the device only at log time; observers run at log and evaluation intervals;
checkpoints are written only after the losses since the previous check proved finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from energan.assemble import assemble
from energan.checkpoint import Checkpoint, mark_best, remove_partial_writes, save_checkpoint
from energan.components import Metric
from energan.config import RUN_CONFIG, ResolvedConfig, TrainConfig, resolve, save_config
from energan.data import ImageData
from energan.distributed import World, joined_world, provenance
from energan.errors import CheckpointError, ConfigError, DivergenceError
from energan.lock import run_lock
from energan.metrics.heldout import HeldoutEnergy
from energan.metrics.scoring import Objective, build_metrics, check_requirements, evaluate, objective
from energan.plugins import Plugins, load_plugins
from energan.run import Run
from energan.rundir import check_new, check_resume_changes, load_resumable, new_run_dir, remove_if_unstarted, restore_training
from energan.state import TrainingState
from energan.status import RunStatus
from energan.step import StepOutput, TrainStep


def train(config: TrainConfig | ResolvedConfig, *, plugins: Plugins | None = None, resume: Path | None = None) -> Run:
    """Train (or, with ``resume``, continue) a run; returns it with its final status and metrics.
    One process at a time per run directory (an OS lock that dies with its holder). A new run is
    built and checked before its directory is created, so a refused run leaves nothing behind.

    Under torchrun every process calls this: each trains on its share of the batch, and rank 0
    alone locks and writes the run directory and talks to the observers."""
    plugins = plugins or load_plugins()
    config = config if isinstance(config, ResolvedConfig) else resolve(config, plugins.registries)
    metrics = build_metrics(config.metrics, plugins.registries)
    scoring = Scoring(metrics, objective(metrics, config.settings.objective), None)
    with joined_world(config.settings.device) as world:
        lock = run_lock if world.is_main else _no_lock
        if resume:
            run_dir = Path(resume)
            with lock(run_dir):
                if world.is_main:
                    remove_partial_writes(run_dir)
                check_resume_changes(run_dir, config, plugins.registries)
                saved = load_resumable(run_dir)
                if config.settings.steps < saved.step:
                    raise ConfigError(
                        f"--resume: steps {config.settings.steps} is below the run's step {saved.step}; valid: {saved.step} or more"
                    )
                return _train(plugins, run_dir, scoring, _prepared(config, plugins, metrics, world), saved, world)
        run_dir = new_run_dir(config)
        if world.is_main:
            check_new(run_dir)
        prepared = _prepared(config, plugins, metrics, world)
        created = not run_dir.exists()
        try:
            with lock(run_dir):
                if world.is_main:
                    check_new(run_dir)  # again: no other process can start this run any more
                return _train(plugins, run_dir, scoring, prepared, None, world)
        except BaseException:
            if world.is_main and created:
                remove_if_unstarted(run_dir)
            raise


@contextlib.contextmanager
def _no_lock(run_dir: Path) -> Iterator[None]:
    """Ranks other than 0 never write the run directory: rank 0 holds its lock for all of them."""
    yield


Prepared = tuple[ResolvedConfig, ImageData, TrainingState]


def _prepared(config: ResolvedConfig, plugins: Plugins, metrics: dict[str, Metric], world: World) -> Prepared:
    """The concrete config, the data and the training state, with the metrics' needs checked against the data."""
    prepared = assemble(config, plugins, world)
    data = prepared[1]
    check_requirements(metrics, data)
    batch_size, images = prepared[0].settings.batch_size, len(data.train_images)
    if batch_size > images:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set of {data.key} ({images} images); valid: 1 to {images}")
    return prepared


def _train(
    plugins: Plugins,
    run_dir: Path,
    scoring: Scoring,
    prepared: Prepared,
    saved: Checkpoint | None,
    world: World,
) -> Run:
    config, data, state = prepared
    start_step = 0
    if saved is not None:
        _check_same_data(saved, data, run_dir)
        restore_training(state, saved, config.settings)
        start_step, scoring.best = saved.step, saved.best
    scoring = dataclasses.replace(scoring, heldout=HeldoutEnergy(state.model.energy, state.device))
    made = provenance(world, state.device)
    run = Run(run_dir.name, run_dir, config, data, state.model, start_step, step=start_step, objective=scoring.objective, provenance=made)
    notify = plugins.notify if world.is_main else _silent
    if world.is_main:
        save_config(run_dir / RUN_CONFIG, config, {info.name: info.version for info in plugins.info()}, made)
    notify("on_train_start", run=run)
    try:
        with _stop_on_signals(run):
            _loop(run, state, scoring, notify, world)
    except DivergenceError:
        run.status = RunStatus.DIVERGED
        raise
    except KeyboardInterrupt:
        run.status = RunStatus.INTERRUPTED
        raise
    except BaseException:
        run.status = RunStatus.FAILED
        raise
    finally:
        notify("on_train_end", run=run)
    return run


def _silent(hook: str, **kwargs: object) -> None:
    """The observers of ranks other than 0: none."""


Notify = Callable[..., None]


@dataclasses.dataclass
class Scoring:
    """The run's metrics, the objective that ranks its checkpoints and the best value so far."""

    metrics: dict[str, Metric]  # the configured ones
    objective: Objective | None
    best: float | None
    heldout: HeldoutEnergy | None = None  # the energy's own metric, once the model is built

    @property
    def evaluated(self) -> dict[str, Metric]:
        """What each evaluation runs: the configured metrics, then the held-out energy."""
        return {**self.metrics, **({self.heldout.name: self.heldout} if self.heldout is not None else {})}

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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what schedulers send before they preempt a job


@contextlib.contextmanager
def _stop_on_signals(run: Run):
    """The first Ctrl-C or SIGTERM: finish the step, evaluate, checkpoint, stop (``run.stop_signal``
    says which). A second one interrupts at once."""

    def handler(signum: int, frame: object) -> None:
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_signal = signum
        run.request_stop()

    try:
        previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


def _loop(run: Run, state: TrainingState, scoring: Scoring, notify: Notify, world: World) -> None:
    settings = run.config.settings
    with contextlib.closing(TrainStep(state, run.data, settings, world)) as train_step:  # stops data workers
        healthy = torch.ones((), dtype=torch.bool, device=state.device)
        last_check_step = last_log_step = run.step
        stopping = False
        tick = time.perf_counter()

        def evaluate_and_checkpoint(out: StepOutput, final: bool) -> None:
            nonlocal last_check_step
            improved = False
            if final or (settings.eval_every and run.step % settings.eval_every == 0):
                if world.is_main:
                    run.metrics = evaluate(scoring.evaluated, run.sample, run.data, final=final)
                    notify("on_evaluate", run=run, step=run.step, metrics=run.metrics)
                    improved = scoring.improved(run.metrics)
                improved = world.from_main(improved, state.device)
            if final or improved or run.step % settings.checkpoint_every == 0:
                _check_healthy(healthy, run, last_check_step, out, world)
                last_check_step = run.step
                world.check_replicas({"generator": state.model.generator, "energy": state.model.energy})
                if world.is_main:
                    saved = Checkpoint(run.step, scoring.best, run.data.info, state.model.state_dict(), state.state_dict())
                    save_checkpoint(run.directory, saved, settings.keep_checkpoints)
                    if improved:
                        mark_best(run.directory)

        def agreed_stop(log_step: bool) -> bool:
            """One process stops when asked; several agree at log steps, so all stop after the same step."""
            if not world.distributed:
                return run.stop_requested
            return log_step and world.any(run.stop_requested, state.device)

        while run.step < settings.steps and not stopping:
            out = train_step(run.step)
            healthy &= torch.isfinite(out.total_d) & torch.isfinite(out.total_g)
            run.step += 1
            log_step = run.step % settings.log_every == 0 or run.step == settings.steps

            # ---- logging, evaluation, checkpoints (host syncs happen only here) ----
            if log_step or agreed_stop(log_step=False):
                _check_healthy(healthy, run, last_check_step, out, world)
                last_check_step = run.step
                now = time.perf_counter()
                logs = {
                    "loss_d": world.mean(out.loss_d).item(),
                    "loss_g": world.mean(out.loss_g).item(),
                    "energy_real": out.energies_real.mean().item(),
                    "energy_fake": out.energies_fake.mean().item(),
                    **{f"reg_{name}": world.mean(value).item() for name, value in out.regularizers.items()},
                    **{name: value.item() for name, value in state.loss.diagnostics(out.energies_real, out.energies_fake).items()},
                    "it_per_s": (run.step - last_log_step) / max(now - tick, 1e-9),
                    "data_wait": train_step.take_data_wait() / (run.step - last_log_step),  # seconds a step waited for data
                }
                last_log_step, tick = run.step, now
                notify("on_log", run=run, step=run.step, logs=logs)
            stopping = agreed_stop(log_step)  # a request from an on_log observer counts at once
            final = run.step == settings.steps or stopping
            evaluate_and_checkpoint(out, final=final)
            if not final and agreed_stop(log_step=False):  # asked during this evaluation or checkpoint
                evaluate_and_checkpoint(out, final=True)
                stopping = True
        run.status = RunStatus.STOPPED if stopping and run.step < settings.steps else RunStatus.FINISHED


def _check_healthy(healthy: torch.Tensor, run: Run, since: int, out: StepOutput, world: World) -> None:
    """Every loss since the last check was finite on every process, and the energies did not
    explode (their mean magnitude stays under ``max_energy``): otherwise stop before a bad
    checkpoint is written."""
    limit = run.config.settings.max_energy
    energies = {"E_real": out.energies_real.mean().item(), "E_fake": out.energies_fake.mean().item()}
    finite = not world.any(not bool(healthy), healthy.device)
    if finite and not (limit and any(abs(value) > limit for value in energies.values())):
        return
    last = run.directory / "checkpoints" / "last.pt"
    kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written before it"
    seen = ", ".join(f"{name} {value:.4g}" for name, value in energies.items())
    what = "loss became NaN or infinite" if not finite else f"energies exploded past max_energy {limit:g}"
    raise DivergenceError(
        f"{what} between steps {since} and {run.step} (D loss {out.total_d.item():.4g}, G loss {out.total_g.item():.4g}, {seen}); "
        f"{kept}; try a lower learning rate"
    )
