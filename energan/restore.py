"""Reopen a finished or stopped run from its directory, for sampling and evaluation."""

from __future__ import annotations

from pathlib import Path

from energan.assemble import assemble
from energan.checkpoint import checkpoint_dir, load_checkpoint
from energan.config import TrainConfig, read_toml, resolve
from energan.errors import CheckpointError
from energan.plugins import Plugins
from energan.run import Run


def open_run(run_dir: Path, plugins: Plugins, checkpoint: str = "last") -> tuple[Run, dict]:
    """The run in ``run_dir`` with the weights of ``checkpoint`` (last, best or a path)."""
    if not (run_dir / "config.toml").exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.toml)")
    path = Path(checkpoint) if checkpoint not in ("last", "best") else checkpoint_dir(run_dir) / f"{checkpoint}.pt"
    state = load_checkpoint(path)
    config = resolve(TrainConfig.from_dict(read_toml(run_dir / "config.toml")), plugins.registries)
    parts = assemble(config, plugins)
    parts.load_state(state)
    run = Run(
        name=run_dir.name,
        directory=run_dir,
        config=config,
        data=parts.data,
        generator=parts.generator,
        energy=parts.energy,
        device=parts.device,
        start_step=state["step"],
        step=state["step"],
        status="loaded",
        sampler=parts.ema.module if parts.ema is not None else None,
    )
    return run, parts.metrics
