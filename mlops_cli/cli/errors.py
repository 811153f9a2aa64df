"""Turning exceptions into one `error: ...` line on stderr and the documented exit code."""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer.core import TyperGroup

from mlops_cli.errors import MlopsError

INTERRUPTED = 130
DEBUG_ENV = "MLOPS_DEBUG"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


def report(exc: BaseException) -> int:
    """Print one line for `exc` on stderr (the traceback too with MLOPS_DEBUG=1); return its code."""
    if _debug():
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, MlopsError):
        line = f"error: {exc.message}"
        if exc.hint:
            line += f" ({exc.hint})"
        code = exc.exit_code
    elif isinstance(exc, KeyboardInterrupt):
        line, code = "error: interrupted", INTERRUPTED
    else:
        line = f"error: internal error: {type(exc).__name__}: {exc}"
        if not _debug():
            line += f" (set {DEBUG_ENV}=1 to see the traceback)"
        code = 1
    sys.stderr.write(" ".join(line.split("\n")) + "\n")
    sys.stderr.flush()
    return code


class MlopsGroup(TyperGroup):
    """The root group: every command's exceptions end here, so they are handled once.

    It also takes `--store`/`--json` before the command name (root_options.py) and gives every
    parameter a readable metavar (metavars.py).
    """

    def __init__(self, **attrs):
        super().__init__(**attrs)
        from mlops_cli.cli.metavars import fill_metavars

        fill_metavars(self)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        from mlops_cli.cli.root_options import take_root_options

        for param in self.get_params(ctx):
            # --help and Typer's --install/--show-completion (added after __init__) default to
            # None, which Typer coerces through pydantic on every run (+40 ms to each
            # `mlops COMMAND --help`); False means the same for a flag and is not coerced.
            if getattr(param, "is_bool_flag", False) and param.default is None:
                param.default = False
        try:
            args = take_root_options(ctx.meta, args)
        except ValueError as exc:
            ctx.fail(str(exc))
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: typer.Context, formatter) -> None:
        from mlops_cli.cli.root_options import HELP_ROWS

        with formatter.section("Global options (before or after the command)"):
            formatter.write_dl(HELP_ROWS)
        super().format_epilog(ctx, formatter)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            # `mlops ... | head`: the reader left; say nothing more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported with its type
            raise typer.Exit(report(exc)) from exc
