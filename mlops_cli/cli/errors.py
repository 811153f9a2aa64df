"""Turning exceptions into one `error: ...` line on stderr and the documented exit code."""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer.core import TyperGroup

from mlops_cli.cli.lazy import loaded_commands
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
    if "sqlite3" in sys.modules:  # only then can `exc` be a database error; keeps --help light
        from mlops_cli.store.db import corruption_error, is_corruption

        if is_corruption(exc):
            # A damaged database found by whatever query hit it: always the integrity exit code.
            exc = corruption_error(exc)
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


def usage_exit(exc: typer.TyperException) -> typer.Exit:
    """Click's usage error (unknown option, missing argument, bad choice...) as the tool's one
    `error: ...` line instead of Click's Usage/Try/Error block; returns the Exit to raise."""
    format_message = getattr(exc, "format_message", None)
    if format_message is None:
        return typer.Exit(report(exc))
    if type(exc).__name__ == "NoArgsIsHelpError":  # `mlops models` alone: the help, as asked
        exc.show()
        return typer.Exit(exc.exit_code)
    message = format_message().strip().rstrip(".")
    message = message[:1].lower() + message[1:]
    context = getattr(exc, "ctx", None)
    if context is not None:
        if type(exc).__name__ == "NoSuchOption" and hasattr(context.command, "commands"):
            # `mlops models --json`: the options belong to the group's commands
            names = ", ".join(context.command.list_commands(context))
            message += f"; `{context.command_path}` takes a command before its options: {names}"
        message += f" (see `{context.command_path} --help`)"
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()
    return typer.Exit(getattr(exc, "exit_code", 2))


def _flags_default_false(group, ctx: typer.Context) -> None:
    """Give --help (of this group and every sub-group) and the completion flags a False default.

    They default to None, which Typer coerces through pydantic whenever a group parses its
    arguments: +40 ms of CPU on every `mlops COMMAND --help` and +80 ms on `mlops models list
    --help`. False means the same for a flag and is not coerced. The help option is created
    per command and cached, so preparing it here also covers groups added by other modules.
    """
    params = list(group.params)
    help_option = group.get_help_option(ctx)
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_bool_flag", False) and param.default is None:
            param.default = False
    for sub in loaded_commands(group):
        if hasattr(sub, "commands"):
            _flags_default_false(sub, ctx)


class MlopsGroup(TyperGroup):
    """The root group: every command's exceptions end here, so they are handled once.

    It also takes `--store`/`--json` before the command name (root_options.py) and gives every
    parameter a readable metavar (metavars.py).
    """

    def __init__(self, **attrs):
        super().__init__(**attrs)
        from mlops_cli.cli.metavars import fill_metavars

        self._parsing: typer.Context | None = None
        fill_metavars(self)

    def prepare_loaded(self, command) -> None:
        """Prepare a sub-command built on first use (lazy.py) as __init__ and parse_args
        prepare the ones that exist when they run."""
        from mlops_cli.cli import coercion
        from mlops_cli.cli.metavars import fill_metavars

        fill_metavars(command)
        if self._parsing is not None:
            _flags_default_false(command, self._parsing)
            coercion.install(command, self._parsing)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        from mlops_cli.cli.root_options import take_root_options

        self._parsing = ctx
        _flags_default_false(self, ctx)
        from mlops_cli.cli import coercion

        coercion.install(self, ctx)  # plain values without pydantic (its import is ~60 ms per command)
        try:
            try:
                args = take_root_options(ctx.meta, args)
            except ValueError as exc:
                ctx.fail(str(exc))
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:
            raise usage_exit(exc) from None

    def format_epilog(self, ctx: typer.Context, formatter) -> None:
        from mlops_cli.cli.root_options import HELP_ROWS

        with formatter.section("Global options (before or after the command)"):
            formatter.write_dl(HELP_ROWS)
        super().format_epilog(ctx, formatter)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:  # click's usage errors, raised by every sub-command
            raise usage_exit(exc) from None
        except BrokenPipeError:
            # `mlops ... | head`: the reader left; say nothing more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported with its type
            raise typer.Exit(report(exc)) from exc
