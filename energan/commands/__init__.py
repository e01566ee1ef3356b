"""The built-in ``energan`` subcommands: each module has ``add_parser(commands)`` and a handler."""
