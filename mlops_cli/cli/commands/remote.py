"""`mlops remote add/list/remove`: where `push` and `pull` go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops_cli.cli.commands._common import LazyModule, store_for
from mlops_cli.cli.options import JsonOpt, StoreOpt
from mlops_cli.cli.output import Output

if TYPE_CHECKING:
    from rich.console import Console

config = LazyModule("mlops_cli.remote.config")

_HELP = "Add, list and remove remotes: shared folders or buckets that push and pull use."
app = typer.Typer(help=_HELP, short_help=_HELP, no_args_is_help=True)

RemoteNameArg = Annotated[str, typer.Argument(metavar="NAME", help="The remote's name (a-z 0-9 . _ -).")]


@app.command("add")
def add(
    name: RemoteNameArg,
    url: Annotated[
        str, typer.Argument(metavar="URL", help="A folder path, or s3://BUCKET/PREFIX, gs://..., az://...")
    ],
    default: Annotated[
        bool, typer.Option("--default", help="Make it the default remote (the first one always is).")
    ] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Add remote NAME at URL, or point an existing NAME at a new URL.

    Credentials are never stored: the backends read their usual environment and config files
    (AWS_* and ~/.aws for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://, AZURE_STORAGE_* for
    az://). Object storage needs an extra: pip install 'mlops-cli[s3]' (or [gcs], [azure]).

    Example: mlops remote add team s3://ml-models/registry --default
    """
    with store_for(store) as opened:
        remote = config.add_remote(opened, name, url, default=default)
    suffix = " (default)" if remote.is_default else ""
    Output(json).result(remote, f"Remote {remote.name} → {remote.url}{suffix}")


@app.command("list")
def list_(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List the remotes, the default one marked.

    Example: mlops remote list --json
    """
    with store_for(store) as opened:
        remotes = config.list_remotes(opened)

    def human(console: Console) -> None:
        if not remotes:
            console.print("No remotes yet: mlops remote add NAME URL --default", markup=False)
        for remote in remotes:
            console.print(f"{'*' if remote.is_default else ' '} {remote.name}\t{remote.url}", markup=False)

    Output(json).result(remotes, human)


@app.command("remove")
def remove(name: RemoteNameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Forget remote NAME; what it holds stays where it is.

    Example: mlops remote remove team
    """
    with store_for(store) as opened:
        remote = config.remove_remote(opened, name)
    Output(json).result(remote, f"Removed remote {remote.name} ({remote.url})")
