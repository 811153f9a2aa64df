"""Parameter coercion without pydantic for the plain cases, so no command imports it at start-up.

Typer 0.29 turns every parameter value into its annotation's type through a pydantic
TypeAdapter, and builds one for each parameter of the invoked command even when the value is
a default: importing pydantic costs ~60 ms (and ~160 ms under load) on every command. The
values of this CLI are almost always plain: None, a string for a `str`, digits for an `int`, a
path. Those are coerced here the way Typer's adapters coerce them; anything else (a number out
of its min/max, an enum, a custom parser, "1_000") goes to Typer's own adapter, unchanged.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def install(command: Any, ctx: Any) -> None:
    """Give every Typer parameter of the command tree under `command` (the help options too,
    which are made per command) the light coercion."""
    import typer.core

    from mlops_cli.cli.lazy import loaded_commands

    # Typer's private hook (0.29): with another Typer that lacks it, its own coercion runs.
    typer_parameter = getattr(typer.core, "_TyperParameter", None)
    if typer_parameter is None:
        return
    for param in [*command.params, command.get_help_option(ctx)]:
        if isinstance(param, typer_parameter) and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = LightCoercion(param)
    for sub in loaded_commands(command):
        install(sub, ctx)


class LightCoercion:
    """Stands in for Typer's RuntimeParam: the plain cases here, the rest by Typer's adapter."""

    def __init__(self, param: Any) -> None:
        self.param = param
        descriptor = param.type_descriptor
        info = descriptor.parameter_info
        self.info = info
        annotation = _without_none(descriptor.annotation)
        self.many = get_origin(annotation) is list
        self.leaf = _without_none(get_args(annotation)[0]) if self.many else annotation
        plain = info.parser is None and descriptor.file_annotation is None
        ranged = info.min is not None or info.max is not None or info.clamp
        self.kind = None
        if plain and self.leaf is str:
            self.kind = "str"
        elif plain and self.leaf in (int, float) and not ranged:
            self.kind = self.leaf.__name__
        elif plain and isinstance(self.leaf, type) and issubclass(self.leaf, Path) and info.path_type is None:
            self.kind = "path"
        self._typer = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None  # as Typer's RuntimeParam
        if self.kind is None:
            return self._typers().coerce(value, param=param, ctx=ctx)
        if self.many:
            if isinstance(value, (list, tuple)):
                done = [self._leaf(item, param, ctx) for item in value]
                if all(item is not _TYPER for item in done):
                    return done
            return self._typers().coerce(value, param=param, ctx=ctx)
        done = self._leaf(value, param, ctx)
        return self._typers().coerce(value, param=param, ctx=ctx) if done is _TYPER else done

    def _leaf(self, value: Any, param: Any, ctx: Any) -> Any:
        kind = self.kind
        if kind == "str":
            return value if isinstance(value, str) else _TYPER
        if kind == "int":
            if type(value) is int:
                return value
            return int(value) if isinstance(value, str) and _INT.match(value) else _TYPER
        if kind == "float":
            if type(value) in (int, float):
                return float(value)
            return float(value) if isinstance(value, str) and _FLOAT.match(value) else _TYPER
        if isinstance(value, (str, Path)):
            from typer._param_types import coerce_cli_path

            path_type = self.leaf
            if isinstance(value, str) and value:  # made here: Typer would build a pydantic adapter for it
                value = path_type(value)
            return coerce_cli_path(value, self.info, path_type=path_type, param=param, ctx=ctx)
        return _TYPER

    def _typers(self) -> Any:
        """Typer's own coercion (pydantic): built only for a value the plain cases do not cover."""
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self.param.type_descriptor)
        return self._typer


_TYPER = object()  # "not a plain case": Typer's adapter decides


def _without_none(annotation: Any) -> Any:
    """`X` for `Optional[X]` / `X | None`; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
