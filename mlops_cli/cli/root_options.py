"""`--store` and `--json` before the command (`mlops --store X models list`), as `git -C` and `gh` take them.

The root group takes these two options out of the arguments before the command name and keeps
them in the context's `meta`, which click shares with every sub-context. The shared `StoreOpt`
and `JsonOpt` (cli/options.py) read them back in their callbacks, so every command that uses
them accepts both spellings without a change of its own.

Why not ordinary options on the root callback: every root option is processed on every run,
and Typer builds a pydantic adapter to coerce a non-bool value, even a missing one; that import
alone costs about 40 ms of each `mlops COMMAND --help`. Taking the two tokens out by hand costs
nothing and needs only click's public `parse_args`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STORE_KEY = "mlops.root.store"
JSON_KEY = "mlops.root.json"

# (option, metavar, help) for the root's help page; the parsing below is the source of truth.
HELP_ROWS = (
    ("--store PATH", "The store to use for the command that follows (as the command's own --store)."),
    ("--json", "Print the result as JSON on stdout (as the command's own --json)."),
)


def take_root_options(meta: dict[str, Any], args: list[str]) -> list[str]:
    """Remove `--store PATH`, `--store=PATH` and `--json` found before the command name.

    Records them in `meta` and returns the remaining arguments. Arguments after the command
    name are left alone (they belong to the command, which has its own --store/--json).
    Raises ValueError when --store has no value.
    """
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg == "--store":
            if index + 1 >= len(args) or not args[index + 1] or args[index + 1].startswith("-"):
                raise ValueError("--store needs a PATH")
            meta[STORE_KEY] = args[index + 1]
            index += 2
            continue
        if arg.startswith("--store="):
            value = arg.split("=", 1)[1]
            if not value:
                raise ValueError("--store needs a PATH")
            meta[STORE_KEY] = value
        elif arg == "--json":
            meta[JSON_KEY] = True
        elif arg.startswith("-"):
            rest.append(arg)
        else:
            rest.extend(args[index:])  # the command name and everything after it
            break
        index += 1
    return rest


def _given_on_command_line(ctx: Any, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "COMMANDLINE"


def store_callback(ctx: Any, param: Any, value: Path | None) -> Path | None:
    """The command's --store wins, then the root's --store, then MLOPS_STORE."""
    root = ctx.meta.get(STORE_KEY)
    if root is not None and not _given_on_command_line(ctx, param.name):
        return Path(root)
    return value


def json_callback(ctx: Any, param: Any, value: bool) -> bool:
    """--json before or after the command name means the same."""
    return bool(value or ctx.meta.get(JSON_KEY, False))
