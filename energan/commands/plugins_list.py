"""``energan plugins``: what is installed, where it comes from, and what it registered."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from energan.params import describe_params
from energan.plugins import Plugins


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("plugins", help="list plugins and the components they register")
    parser.add_argument("--all", action="store_true", help="include the built-in plugins")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def collect(plugins: Plugins, include_builtins: bool) -> dict[str, Any]:
    """Plugins (name, distribution, version, hooks) and each one's components with parameters; with
    the built-ins, the training settings too (top-level keys of a config, ``--set steps=500``)."""
    from energan.config import TrainSettings

    shown = [info for info in plugins.info() if include_builtins or info.distribution != "energan"]
    names = {info.name for info in shown}
    components: dict[str, list[dict[str, Any]]] = {}
    for registry in plugins.registries:
        components[registry.kind.plural] = [
            {
                "name": component.name,
                "plugin": component.plugin,
                "description": component.description,
                "params": describe_params(component.params),
            }
            for component in registry
            if component.plugin in names
        ]
    listing = {"plugins": [dataclasses.asdict(info) for info in shown], "components": components}
    if include_builtins:
        listing["settings"] = describe_params(TrainSettings)
    return listing


def run(args: argparse.Namespace) -> int:
    listing = collect(args.loaded_plugins, include_builtins=args.all)
    if args.json:
        print(json.dumps(listing, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not listing["plugins"]:
        console.print("No third-party plugins installed; `energan plugins --all` includes the built-ins.")
        return 0
    table = Table(title="plugins")
    for column in ("name", "distribution", "version", "hooks"):
        table.add_column(column)
    for info in listing["plugins"]:
        table.add_row(*map(escape, (info["name"], info["distribution"] or "-", info["version"] or "-", ", ".join(info["hooks"]))))
    console.print(table)
    from energan import kinds

    where = {
        kind.plural: f"{kind.plural}: [{kind.key}{'.NAME' if kind.many else ''}] in a config, --{kind.flag} NAME on the command line"
        for kind in kinds.KINDS
    }
    for plural, rows in listing["components"].items():
        if not rows:
            continue
        table = Table(title=escape(where.get(plural, plural)))
        for column in ("name", "plugin", "description", "parameters"):
            table.add_column(column)
        for row in rows:
            params = "\n".join(_describe(param) for param in row["params"]) or "-"
            table.add_row(*map(escape, (row["name"], row["plugin"], row["description"], params)))  # text, not markup: [m − D(G(z))]⁺
        console.print(table)
    if listing.get("settings"):
        table = Table(title="training settings (top-level keys of a config; --set KEY=VALUE)")
        table.add_column("setting: type = default  description")
        for param in listing["settings"]:
            table.add_row(escape(_describe(param)))
        console.print(table)
    return 0


def _describe(param: dict[str, Any]) -> str:
    allowed = f" {{{', '.join(map(str, param['choices']))}}}" if param["choices"] else ""
    return f"{param['name']}: {param['type']} = {param['default']!r}{allowed}{_where(param)}  {param['help']}"


def _where(param: dict[str, Any]) -> str:
    """Where a parameter applies, e.g. ' (body conv, timm)', or '' when it always does."""
    applies = param["applies"] or {}
    return "".join(f" ({name} {', '.join(map(str, values))})" for name, values in applies.items())
