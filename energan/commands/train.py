"""``energan train``: train a new run, or resume one."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an energy-based GAN",
        description="Train a run. Precedence: defaults < --config file < flags < --set.",
    )
    parser.add_argument("--energy", help="energy name (default autoencoder)")
    parser.add_argument("--loss", help="loss name (default margin)")
    parser.add_argument("--reg", action="append", metavar="NAME", help="regularizer name; repeatable; 'none' for none")
    parser.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="metric name (default inception_score); repeatable; 'none' for none; e.g. mode_coverage for grid25",
    )
    parser.add_argument("--generator", help="generator name (default mlp)")
    parser.add_argument("--data", help="dataset name (default mnist5k: 5 000 real MNIST digits, embedded)")
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument("--download", action="store_true", help="let the dataset fetch its files into --data-dir (mnist)")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting or parameter: steps=500, loss.margin=2, reg.pullaway.weight=0.2",
    )
    parser.add_argument("--steps", type=int, help="generator steps")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device (default auto)")
    parser.add_argument("--name", help="run name: the directory under runs/")
    parser.add_argument("--seed", type=int, help="seed of every random stream")
    parser.add_argument(
        "--log", action="append", metavar="NAME", help="enable an extra observer; repeatable: tensorboard (events in <run>/tensorboard/)"
    )
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR where it stopped")
    parser.set_defaults(handler=run)


def _switch_components(raw: dict, args: argparse.Namespace) -> dict:
    """``--energy X`` etc.: a component that differs from the config file's drops its parameters."""
    chosen = {"energy": args.energy, "loss": args.loss, "generator": args.generator, "data": args.data}
    for table, name in chosen.items():
        current = raw.get(table, {})
        if name is not None and not (isinstance(current, dict) and current.get("name") == name):
            raw[table] = {"name": name}
    return raw


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    pairs = {
        "data_dir": args.data_dir,
        "steps": args.steps,
        "device": args.device,
        "name": args.name,
        "seed": args.seed,
        "log": ",".join(args.log) if args.log else None,
    }
    flags = [f"{key}={value}" for key, value in pairs.items() if value is not None]
    return [*flags, "data.download=true"] if args.download else flags


def run(args: argparse.Namespace) -> int:
    import signal

    from energan.config import TrainConfig, apply_overrides, read_run_config, read_toml
    from energan.distributed import world_from_environment
    from energan.errors import ConfigError
    from energan.status import RunStatus
    from energan.trainer import train

    if args.resume:
        if args.config or any(v is not None for v in (args.energy, args.loss, args.reg, args.metric, args.generator, args.data)):
            raise ConfigError("--resume continues a run with its saved config; only --steps, --device, --log and --set may change")
        raw = read_run_config(args.resume / "config.toml") if args.resume.is_dir() else {}
        if not raw:
            raise ConfigError(f"--resume {args.resume}: not a run directory (no config.toml)")
    else:
        raw = read_toml(args.config) if args.config else {}
    raw = apply_overrides(_switch_components(raw, args), _flag_overrides(args) + args.overrides)
    for table, chosen in (("reg", args.reg), ("metrics", args.metric)):
        if chosen:  # the named tables, keeping parameters a config file or --set gave them
            previous = raw.get(table, {})
            raw[table] = {name: previous.get(name, {}) for name in chosen if name != "none"}
    config = TrainConfig.from_dict(raw)
    result = train(config, plugins=args.loaded_plugins, resume=args.resume)
    if world_from_environment().is_main:  # under torchrun, one line for the whole run
        print(f"{result.status}: {result.directory} at step {result.step}")
    if result.stop_signal == signal.SIGTERM:  # saved and stopped; the scheduler sees the usual 128 + 15
        return 128 + signal.SIGTERM
    return 0 if result.status in (RunStatus.FINISHED, RunStatus.STOPPED) else 1
