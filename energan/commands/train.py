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
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR where it stopped")
    add_setting_flags(parser)
    parser.set_defaults(handler=run)


SETTING_DEST = "setting_"  # argparse destination prefix of the flags generated from TrainSettings


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per training setting, generated from its declaration (``--batch-size 32``,
    ``--no-ema``): the same help, choices and checks as ``--set batch_size=32``, to which each
    flag is handed; ``--log`` is repeatable and joins its values with commas."""
    from energan.config import TrainSettings
    from energan.params import describe_params

    group = parser.add_argument_group("training settings", "the top-level keys of a config; the same as --set KEY=VALUE")
    for param in describe_params(TrainSettings):
        name, default = param["name"], param["default"]
        flag = "--" + name.replace("_", "-")
        shown = f" (default {default!r})" if default not in ("", None) else ""
        options: dict = {"dest": SETTING_DEST + name, "help": f"{param['help']}{shown}".replace("%", "%%")}
        if param["type"] == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif name == "log":
            options.update(action="append", metavar="NAME")
        else:
            options["metavar"] = "{" + ",".join(param["choices"]) + "}" if param["choices"] else param["type"].upper()
        group.add_argument(flag, **options)


def _switch_components(raw: dict, args: argparse.Namespace) -> dict:
    """``--energy X`` etc.: a component that differs from the config file's drops its parameters."""
    chosen = {"energy": args.energy, "loss": args.loss, "generator": args.generator, "data": args.data}
    for table, name in chosen.items():
        current = raw.get(table, {})
        if name is not None and not (isinstance(current, dict) and current.get("name") == name):
            raw[table] = {"name": name}
    return raw


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    """The setting flags given, as ``--set`` overrides."""
    flags = []
    for dest, value in vars(args).items():
        if not dest.startswith(SETTING_DEST) or value is None:
            continue
        if isinstance(value, list):  # --log, repeatable
            value = ",".join(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        flags.append(f"{dest.removeprefix(SETTING_DEST)}={value}")
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
        raw = read_run_config(args.resume)
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
