"""The training loop: alternating energy (D) and generator (G) steps.

Scalars leave the device only at log time; observers run at log and evaluation intervals;
checkpoints are written only after the losses since the previous check proved finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable
from pathlib import Path

import torch

from energan.assemble import assemble, build_outlier_sets
from energan.checkpoint import checkpoint_of
from energan.components import Metric
from energan.config import ResolvedConfig, TrainConfig, resolve
from energan.data import ImageData
from energan.distributed import World, joined_world, provenance
from energan.errors import ConfigError, DivergenceError
from energan.metrics.heldout import HeldoutEnergy
from energan.metrics.scoring import Objective, attach_energy, build_metrics, check_requirements, evaluate, objective
from energan.plugins import Plugins, load_plugins
from energan.run import Run
from energan.rundir import RunDirectory
from energan.state import TrainingState
from energan.status import RunStatus
from energan.step import StepOutput, TrainStep


def train(config: TrainConfig | ResolvedConfig, *, plugins: Plugins | None = None, resume: Path | None = None) -> Run:
    """Train (or, with ``resume``, continue) a run; returns it with its final status and metrics.

    One order for new and continued runs: resolve the config, assemble the data and the training
    state, open the run directory (:class:`RunDirectory`: its lock, the checks, a continued
    run's restore, ``config.toml``), then the loop. A new run is built and checked before its
    directory is created, so a refused run leaves nothing behind.

    Under torchrun every process calls this: each trains on its share of the batch, and rank 0
    alone locks and writes the run directory and talks to the observers."""
    plugins = plugins or load_plugins()
    config = config if isinstance(config, ResolvedConfig) else resolve(config, plugins.registries)
    metrics = build_metrics(config.metrics, plugins.registries)
    ranking = objective(metrics, config.settings.objective)
    notify = plugins.notifier(config.settings.observers)
    with joined_world(config.settings.device) as world:
        directory = RunDirectory.continued(resume) if resume else RunDirectory.new(config)
        config, data, state = _assembled(config, plugins, metrics, world)
        made = provenance(world, state.device)
        with directory.opened(config, data.info, state, plugins, world, made) as saved:
            start, best = (saved.step, saved.best) if saved is not None else (0, None)
            scoring = Scoring(metrics, ranking, best, HeldoutEnergy(state.model.energy, state.device))
            run = Run(
                directory.name, directory.files.root, config, data, state.model, start, step=start, objective=ranking, provenance=made
            )
            return _train(run, state, directory, scoring, notify if world.is_main else _silent, world)


def _assembled(
    config: ResolvedConfig, plugins: Plugins, metrics: dict[str, Metric], world: World
) -> tuple[ResolvedConfig, ImageData, TrainingState]:
    """The concrete config, the data and the training state, with the metrics' needs checked against the data."""
    config, data, state = assemble(config, plugins, world)
    check_requirements(metrics, data)
    attach_energy(metrics, state.model.energy, state.device, lambda: build_outlier_sets(config, plugins))
    batch_size, images = config.settings.batch_size, len(data.train_images)
    if batch_size > images:
        raise ConfigError(f"batch_size {batch_size} is larger than the training set of {data.key} ({images} images); valid: 1 to {images}")
    return config, data, state


def _train(run: Run, state: TrainingState, directory: RunDirectory, scoring: Scoring, notify: Notify, world: World) -> Run:
    """The loop between the observers' start and end, with the run's final status."""
    notify("on_train_start", run=run)
    try:
        with _stop_on_signals(run):
            _loop(run, state, directory, scoring, notify, world)
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


@dataclasses.dataclass
class _Since:
    """What the loop remembers between iterations: whether every loss since the last check was
    finite (on the device, read at checks), the step of that check, and the last log's step and time."""

    healthy: torch.Tensor
    checked: int
    logged: int
    tick: float


def _loop(run: Run, state: TrainingState, directory: RunDirectory, scoring: Scoring, notify: Notify, world: World) -> None:
    settings = run.config.settings
    since = _Since(torch.ones((), dtype=torch.bool, device=state.device), run.step, run.step, time.perf_counter())
    stopping = False
    with contextlib.closing(TrainStep(state, run.data, settings, world)) as train_step:  # stops data workers
        while run.step < settings.steps and not stopping:
            # ---- one training step (nothing here waits for the device) ----
            out = train_step(run.step)
            since.healthy &= torch.isfinite(out.total_d) & torch.isfinite(out.total_g)
            run.step += 1

            # ---- logging (host syncs happen only here), then the one agreement on stopping ----
            log_due = run.step % settings.log_every == 0 or run.step == settings.steps
            if log_due or (run.stop_requested and not world.distributed):  # a stop logs the steps since the last log
                _check_healthy(since, run, out, world)
                notify("on_log", run=run, step=run.step, logs=_logs(run, out, state, train_step, since, world))
            stopping = _agreed_stop(run, log_due, world, state.device)  # an on_log observer's request counts at once
            final = run.step == settings.steps or stopping

            # ---- evaluation and checkpoint ----
            improved = False
            if final or (settings.eval_every and run.step % settings.eval_every == 0):
                improved = _evaluate(run, scoring, notify, world, state.device, final)
            if final or improved or run.step % settings.checkpoint_every == 0:
                _check_healthy(since, run, out, world)
                world.check_replicas({"generator": state.model.generator, "energy": state.model.energy})
                if world.is_main:
                    directory.save(checkpoint_of(run.step, scoring.best, run.data.info, state), settings.keep_checkpoints, best=improved)
    run.status = RunStatus.STOPPED if stopping and run.step < settings.steps else RunStatus.FINISHED


def _logs(run: Run, out: StepOutput, state: TrainingState, train_step: TrainStep, since: _Since, world: World) -> dict[str, float]:
    """The scalars logged at a log step: losses, energies, regularizers, the loss's diagnostics, speed."""
    now = time.perf_counter()
    steps = run.step - since.logged
    logs = {
        "loss_d": world.mean(out.loss_d).item(),
        "loss_g": world.mean(out.loss_g).item(),
        "energy_real": out.energies_real.mean().item(),
        "energy_fake": out.energies_fake.mean().item(),
        **{f"reg_{name}": world.mean(value).item() for name, value in out.regularizers.items()},
        **{name: value.item() for name, value in state.loss.diagnostics(out.energies_real, out.energies_fake).items()},
        "it_per_s": steps / max(now - since.tick, 1e-9),
        "data_wait": train_step.take_data_wait() / steps,  # seconds a step waited for its batch
    }
    since.logged, since.tick = run.step, now
    return logs


def _agreed_stop(run: Run, log_due: bool, world: World, device: torch.device) -> bool:
    """One process stops when asked; several agree at log steps (an all-reduce), so that all stop
    after the same step. A request that comes during an evaluation or a checkpoint is agreed on
    after the next step."""
    if not world.distributed:
        return run.stop_requested
    return log_due and world.any(run.stop_requested, device)


def _evaluate(run: Run, scoring: Scoring, notify: Notify, world: World, device: torch.device, final: bool) -> bool:
    """Rank 0 evaluates and tells the observers; every rank learns whether the objective improved."""
    improved = False
    if world.is_main:
        run.metrics = evaluate(scoring.evaluated, run.sample, run.data, final=final)
        notify("on_evaluate", run=run, step=run.step, metrics=run.metrics)
        improved = scoring.improved(run.metrics)
    return world.from_main(improved, device)


def _check_healthy(since: _Since, run: Run, out: StepOutput, world: World) -> None:
    """Every loss since the last check was finite on every process, and the energies did not
    explode (their mean magnitude stays under ``max_energy``): otherwise stop before a bad
    checkpoint is written."""
    limit = run.config.settings.max_energy
    energies = {"E_real": out.energies_real.mean().item(), "E_fake": out.energies_fake.mean().item()}
    finite = not world.any(not bool(since.healthy), since.healthy.device)
    if finite and not (limit and any(abs(value) > limit for value in energies.values())):
        since.checked = run.step
        return
    last = run.files.last
    kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written before it"
    seen = ", ".join(f"{name} {value:.4g}" for name, value in energies.items())
    what = "loss became NaN or infinite" if not finite else f"energies exploded past max_energy {limit:g}"
    raise DivergenceError(
        f"{what} between steps {since.checked} and {run.step} (D loss {out.total_d.item():.4g}, G loss {out.total_g.item():.4g}, {seen}); "
        f"{kept}; try a lower learning rate"
    )
