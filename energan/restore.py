"""Reopen a saved run from its directory, for sampling and evaluation: the model alone, no
optimizers, and the dataset only if a metric needs images that are not cached."""

from __future__ import annotations

from pathlib import Path

import torch

from energan.assemble import load_data
from energan.checkpoint import checkpoint_path, load_checkpoint
from energan.config import TrainConfig, read_run_config, resolve
from energan.data import DeferredData
from energan.errors import CheckpointError
from energan.model import build_model, pick_device
from energan.plugins import Plugins
from energan.run import Run
from energan.status import RunStatus


def open_run(run_dir: Path, plugins: Plugins, checkpoint: str = "last") -> Run:
    """The run in ``run_dir`` with the model of ``checkpoint`` (last, best or a path)."""
    raw = read_run_config(run_dir)
    saved = load_checkpoint(checkpoint_path(run_dir, checkpoint))
    config = resolve(TrainConfig.from_dict(raw), plugins.registries)
    with torch.random.fork_rng(devices=[]):  # initial weights are overwritten: leave the caller's RNG alone
        model = build_model(config, plugins.registries, saved.data.shape, pick_device(config.settings.device))
    try:
        model.load_state_dict(saved.model)
    except RuntimeError as error:  # e.g. config.toml edited after training: other layer sizes
        raise CheckpointError(f"checkpoint of {run_dir} does not fit its config.toml ({str(error).splitlines()[0][:200]})") from None
    return Run(
        name=run_dir.name,
        directory=run_dir,
        config=config,
        data=DeferredData(saved.data, lambda: load_data(config, plugins)),
        model=model,
        start_step=saved.step,
        step=saved.step,
        status=RunStatus.LOADED,
    )
