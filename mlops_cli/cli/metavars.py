"""Metavars people read (`NAME`, `PATH`, `N`) for every option that does not name its own.

Typer shows a parameter's Python type as its metavar (`<str>`, `<list[Path]>`), which reads
like a stack trace. A command sets `metavar=` where a better word exists (`KEY=VALUE`, `I/N`);
everything else gets a default from its type and name here, when the root group is built, so
commands added later need nothing of their own.
"""

from __future__ import annotations

from functools import partial
from pathlib import PurePath
from typing import Any, get_args, get_origin

from mlops_cli.cli.lazy import loaded_commands

# Metavars the name alone would get wrong, by parameter name.
_BY_NAME = {
    "tag": "KEY=VALUE",
    "tags": "KEY=VALUE",
    "store": "PATH",
    "message": "TEXT",
    "shard": "I/N",
    "features": "A,B,C",
    "passthrough": "A,B,C",
    "input_shape": "SHAPE",
    "base_image": "IMAGE",
    "since": "WHEN",
    "output_format": "FORMAT",
    "optimization": "LEVEL",
    "quantize": "MODE",
    "model": "NAME",
    "on_error": "fail|skip",
    "input": "PATH",
}


def default_metavar(param: Any) -> str | None:
    """The metavar `param` should show, or None to leave it as it is (flags, choices, set ones)."""
    if param.metavar is not None or getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.is_choice:
        return None  # not a Typer parameter, or Typer lists the choices, which is better
    if param.name in _BY_NAME:
        return _BY_NAME[param.name]
    annotation = descriptor.annotation
    if get_origin(annotation) in (list, tuple):
        inner = get_args(annotation)
        annotation = inner[0] if inner else str
    if descriptor.is_file or (isinstance(annotation, type) and issubclass(annotation, PurePath)):
        return "PATH"
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    return (param.name or "value").upper()


def fill_metavars(command: Any) -> None:
    """Give every parameter of `command` and its sub-commands a readable metavar."""
    for param in getattr(command, "params", []):
        metavar = default_metavar(param)
        if metavar is not None:
            param.metavar = metavar
        if getattr(param, "param_type_name", None) == "argument":
            # Typer writes a required argument `{REF}` in usage lines: braces mean "one of" in
            # every usage convention. POSIX's form instead: `REF`, `[REF]`, `REF [REF]...`.
            param._usage_display_name = partial(usage_name, param)
            if param.metavar is not None:
                # Typer prints an argument as "PATH <path>": the metavar says it, the type repeats it.
                param.display_type_rich = _no_type
    for sub in loaded_commands(command):
        fill_metavars(sub)


def usage_name(param: Any) -> str:
    """How an argument reads in a usage line: `REF`, `[REF]`, `REF [REF]...`, `[REF]...`.

    A metavar that spells out its own brackets (`[PIPELINE.yaml] [STEP]...`) is used as it is.
    """
    name = param.metavar if param.metavar is not None else (param.name or "value").upper()
    if "[" in name:
        return name
    name = name.removesuffix("...")
    if param.nargs == 1:
        return name if param.required else f"[{name}]"
    return f"{name} [{name}]..." if param.required else f"[{name}]..."


def _no_type(ctx: Any) -> None:
    return None
