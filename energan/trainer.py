"""The training loop: alternating energy (D) and generator (G) steps.

Scalars leave the device only at log time; observers run at log and evaluation intervals;
checkpoints are written only after the losses since the previous check proved finite.
"""

from __future__ import annotations

import contextlib
import signal
import time
from datetime import datetime
from pathlib import Path

import torch

from energan.assemble import Parts, assemble
from energan.checkpoint import load_checkpoint, mark_best, save_checkpoint
from energan.config import TrainConfig, resolve, save_config
from energan.errors import CheckpointError, DivergenceError
from energan.plugins import Plugins, load_plugins
from energan.run import Run
from energan.step import StepOutput, TrainStep


def train(config: TrainConfig, *, plugins: Plugins | None = None, resume: Path | None = None) -> Run:
    """Train (or, with ``resume``, continue) a run; returns it with its final status."""
    plugins = plugins or load_plugins()
    config = resolve(config, plugins.registries)
    state = load_checkpoint(Path(resume)) if resume else None
    parts = assemble(config, plugins)
    run_dir = Path(resume) if resume else _new_run_dir(config)
    start_step, best = 0, None
    if state is not None:
        parts.load_state(state)
        start_step, best = state["step"], state.get("best")
    run = Run(
        name=run_dir.name,
        directory=run_dir,
        config=config,
        data=parts.data,
        generator=parts.generator,
        energy=parts.energy,
        device=parts.device,
        start_step=start_step,
        step=start_step,
        sampler=parts.ema.module if parts.ema is not None else None,
    )
    save_config(run_dir / "config.toml", config, {info.name: info.version for info in plugins.info()})
    plugins.hook.on_train_start(run=run)
    try:
        with _stop_on_interrupt(run):
            _loop(run, parts, plugins, best)
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
        plugins.hook.on_train_end(run=run)
    return run


def _new_run_dir(config: TrainConfig) -> Path:
    settings = config.settings
    name = settings.name or "-".join(
        [config.energy.name, config.loss.name, *config.regularizers, datetime.now().strftime("%Y%m%d-%H%M%S")]
    )
    run_dir = Path(settings.runs_dir) / name
    if (run_dir / "checkpoints").exists():
        raise CheckpointError(f"run directory {run_dir} already exists; continue it with --resume {run_dir} or pick another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


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


def _loop(run: Run, parts: Parts, plugins: Plugins, best: float | None) -> None:
    settings = run.config.settings
    with contextlib.closing(TrainStep(parts, settings)) as train_step:  # stops data workers
        healthy = torch.ones((), dtype=torch.bool, device=parts.device)
        last_check_step = last_log_step = run.step
        tick = time.perf_counter()
        while run.step < settings.steps and not run.stop_requested:
            out = train_step(run.step)
            healthy &= torch.isfinite(out.total_d) & torch.isfinite(out.total_g)
            run.step += 1

            # ---- logging, evaluation, checkpoints (host syncs happen only here) ----
            last = run.step == settings.steps or run.stop_requested
            if run.step % settings.log_every == 0 or last:
                _check_finite(healthy, run, last_check_step, out)
                last_check_step = run.step
                now = time.perf_counter()
                logs = {
                    "loss_d": out.loss_d.item(),
                    "loss_g": out.loss_g.item(),
                    "energy_real": out.energies_real.float().mean().item(),
                    "energy_fake": out.energies_fake.float().mean().item(),
                    **{f"reg_{name}": value.item() for name, value in out.regularizers.items()},
                    **{name: value.item() for name, value in parts.loss.diagnostics(out.energies_real, out.energies_fake).items()},
                    "it_per_s": (run.step - last_log_step) / max(now - tick, 1e-9),
                }
                last_log_step, tick = run.step, now
                plugins.hook.on_log(run=run, step=run.step, logs=logs)
            evaluate = settings.eval_every and run.step % settings.eval_every == 0
            if evaluate or last:
                metrics = _evaluate(run, parts, final=last)
                plugins.hook.on_evaluate(run=run, step=run.step, metrics=metrics)
                score = next(iter(metrics.values()), None)  # the first metric's first value ranks checkpoints
                if score is not None and not _higher_is_better(parts):
                    score = -score  # stored negated, so that larger is always better (FID, KID)
                improved = score is not None and (best is None or score > best)
                best = score if improved else best
            else:
                improved = False
            if run.step % settings.checkpoint_every == 0 or last or improved or run.stop_requested:
                _check_finite(healthy, run, last_check_step, out)
                last_check_step = run.step
                save_checkpoint(run.directory, parts.state(run.step, best), settings.keep_checkpoints)
                if improved:
                    mark_best(run.directory)
        run.status = "stopped" if run.stop_requested and run.step < settings.steps else "finished"


def _check_finite(healthy: torch.Tensor, run: Run, since: int, out: StepOutput) -> None:
    if bool(healthy):
        return
    last = run.directory / "checkpoints" / "last.pt"
    kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written before it"
    raise DivergenceError(
        f"loss became NaN or infinite between steps {since} and {run.step} "
        f"(D loss {out.total_d.item():.4g}, G loss {out.total_g.item():.4g}); {kept}; try a lower learning rate"
    )


def _higher_is_better(parts: Parts) -> bool:
    first = next(iter(parts.metrics.values()), None)
    return getattr(first, "higher_is_better", True)


def _evaluate(run: Run, parts: Parts, final: bool) -> dict[str, float]:
    """Every configured metric on samples from the (EMA) generator; training RNG untouched.
    ``final``: the run's last evaluation (metrics may score more samples there)."""
    metrics: dict[str, float] = {}
    for metric in parts.metrics.values():
        metrics.update(metric.evaluate(run.sample, parts.data, final=final))
    return metrics
