"""The root Typer app: one sub-app or command per module of `commands/`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_cli import __version__
from mlops_cli.cli.commands import (
    audit,
    audit_governance,
    bundle,
    convert,
    deploy,
    gc,
    init,
    models,
    monitor,
    package,
    profile,
    pull,
    push,
    register,
    remote,
    score_batch,
    serve,
)
from mlops_cli.cli.commands import pipeline as pipeline_command
from mlops_cli.cli.errors import MlopsGroup

app = typer.Typer(
    name="mlops",
    cls=MlopsGroup,
    help="A local-first MLOps toolchain for the terminal; everything lives in the project's .mlops/ folder.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    # A bool, not Optional[bool]: Typer coerces a None through pydantic (+40 ms on every run).
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """A local-first MLOps toolchain for the terminal."""


def _command(name: str, function) -> None:
    """Register a command; its summary in `mlops --help` is its docstring's first line, uncut."""
    summary = (function.__doc__ or "").strip().splitlines()[0]
    app.command(name, short_help=summary)(function)


_command("init", init.init)
_command("register", register.register)
app.add_typer(models.app, name="models")
_command("convert", convert.convert)
_command("score-batch", score_batch.score_batch)
_command("serve", serve.serve)
_command("package", package.package)
app.add_typer(bundle.app, name="bundle")
_command("profile", profile.profile)
app.add_typer(deploy.app, name="deploy")
app.add_typer(audit.app, name="audit")
audit_governance.register(audit.app)
_command("gc", gc.gc)
app.add_typer(monitor.app, name="monitor")
app.add_typer(remote.app, name="remote")
_command("push", push.push)
_command("pull", pull.pull)
app.add_typer(pipeline_command.app, name="pipeline")
