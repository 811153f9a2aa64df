"""Turning exceptions into one `error: ...` line on stderr and the documented exit code."""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer.core import TyperGroup

from mlops_cli.errors import MlopsError, Terminated

INTERRUPTED = 130
TERMINATED = 143
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
    elif isinstance(exc, Terminated):
        line, code = "error: terminated", TERMINATED
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
    """The root group: every command's exceptions end here, so they are handled once."""

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
