"""``energan train``: train a new run, or resume one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from energan.commands import add_set_option

if TYPE_CHECKING:
    from energan.config import TrainConfig


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an energy-based GAN",
        description="Train a run. Precedence: defaults < --config file < flags < --set.",
    )
    add_component_flags(parser)
    parser.add_argument("--download", action="store_true", help="let the dataset fetch its files into --data-dir (mnist)")
    parser.add_argument("--config", type=Path, help="TOML config file")
    add_set_option(parser, "override a setting or parameter: steps=500, loss.margin=2, reg.pullaway.weight=0.2")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR where it stopped")
    parser.add_argument(
        "--dry-run",
        nargs="?",
        const="table",
        choices=("table", "json"),
        help="train nothing: print the plan (parameters, FLOPs and peak memory of one step, the largest batch per card) as a table or json",
    )
    add_setting_flags(parser)
    parser.set_defaults(handler=run)


SETTING_DEST = "setting_"  # argparse destination prefix of the flags generated from TrainSettings
COMPONENT_DEST = "component_"  # ... and of the flags generated from the component kinds


def add_component_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per component kind (``--energy NAME``; ``--reg NAME``, repeatable, for a kind a run
    takes several of), generated from its record (energan.kinds); ``energan plugins`` lists the names."""
    from energan import kinds

    for kind in kinds.KINDS:
        default = ", ".join(kind.default) or "none"
        options: dict = {"dest": COMPONENT_DEST + kind.key, "metavar": "NAME"}
        if kind.many:
            options.update(action="append", help=f"{kind.name} name (default {default}); repeatable; 'none' for none")
        else:
            options["help"] = f"{kind.name} name (default {default})"
        parser.add_argument(f"--{kind.flag}", **options)


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


def _chosen_components(args: argparse.Namespace) -> dict[str, str | list[str]]:
    """The component flags given: config key -> a name, or the names of a kind of several."""
    given = {dest.removeprefix(COMPONENT_DEST): value for dest, value in vars(args).items() if dest.startswith(COMPONENT_DEST)}
    return {key: value for key, value in given.items() if value is not None}


def _switch_components(raw: dict, chosen: dict[str, str | list[str]]) -> dict:
    """``--energy X`` etc.: a component that differs from the config file's drops its parameters."""
    for key, name in chosen.items():
        current = raw.get(key, {})
        if isinstance(name, str) and not (isinstance(current, dict) and current.get("name") == name):
            raw[key] = {"name": name}
    return raw


def _name_components(raw: dict, chosen: dict[str, str | list[str]]) -> dict:
    """``--reg A --reg B``: a kind's components, keeping the parameters a file or --set gave them."""
    for key, names in chosen.items():
        if isinstance(names, list):
            current = raw.get(key, {})
            raw[key] = {name: current.get(name, {}) if isinstance(current, dict) else {} for name in names if name != "none"}
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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config a parsed ``energan train`` asks for: the saved run's (``--resume``) or the
    ``--config`` file's, then the component flags, the setting flags and ``--set``, in that order."""
    from energan.config import TrainConfig, apply_overrides, read_run_config, read_toml
    from energan.errors import ConfigError

    chosen = _chosen_components(args)
    if args.resume:
        if args.config or chosen:
            raise ConfigError(
                "--resume continues a run with its saved config: --config and the component flags cannot change it; "
                "the settings a resume may change (steps, learning rates, intervals, device, ...) take their flags or --set"
            )
        raw = read_run_config(args.resume)
    else:
        raw = read_toml(args.config) if args.config else {}
    raw = _name_components(apply_overrides(_switch_components(raw, chosen), _flag_overrides(args) + args.overrides), chosen)
    return TrainConfig.from_dict(raw)


def run(args: argparse.Namespace) -> int:
    import signal

    from energan.distributed import world_from_environment
    from energan.status import RunStatus
    from energan.trainer import train

    if args.dry_run:
        from energan.plan_report import dry_run

        return dry_run(config_from_args(args), args.loaded_plugins, args.dry_run)
    result = train(config_from_args(args), plugins=args.loaded_plugins, resume=args.resume)
    if world_from_environment().is_main:  # under torchrun, one line for the whole run
        print(f"{result.status}: {result.directory} at step {result.step}")
    if result.stop_signal == signal.SIGTERM:  # saved and stopped; the scheduler sees the usual 128 + 15
        return 128 + signal.SIGTERM
    return 0 if result.status in (RunStatus.FINISHED, RunStatus.STOPPED) else 1
