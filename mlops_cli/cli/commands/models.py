"""`mlops models ...`: list, show, tag, alias, download and remove versions."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_cli.cli.commands._common import LazyModule, report_leftovers, store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefArg, StoreOpt

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.domain import ModelVersion

from mlops_cli.cli.output import Output, human_size, plural, short_digest

manage = LazyModule("mlops_cli.models.manage")
differ = LazyModule("mlops_cli.models.diff")

_HELP = "List, show, tag, alias, download and remove model versions."
app = typer.Typer(help=_HELP, short_help=_HELP, no_args_is_help=True)


def _table(*columns: str):
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


@app.command("list")
def list_(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List models: latest version, aliases, number of versions, last update.

    Example: mlops models list --json | jq '.[].name'
    """
    with store_for(store) as opened:
        summaries = manage.list_models(opened)
        report_leftovers(Output(json), opened)

    def human(console: Console) -> None:
        if not summaries:
            console.print("No models yet: mlops register PATH --name NAME")
            return
        table = _table("NAME", "LATEST", "ALIASES", "VERSIONS", "UPDATED")
        for s in summaries:
            aliases = ", ".join(f"{a}→{v}" for a, v in s.aliases.items())
            table.add_row(s.name, str(s.latest_version), aliases, str(s.versions), s.updated_at[:19] + "Z")
        console.print(table)

    Output(json).result(summaries, human)


@app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List every version of one model.

    Example: mlops models versions churn
    """
    with store_for(store) as opened:
        found = manage.list_versions(opened, name)

    def human(console: Console) -> None:
        table = _table("VERSION", "DIGEST", "FRAMEWORK", "SIZE", "ALIASES", "CREATED", "BY")
        for v in found:
            table.add_row(
                str(v.version),
                short_digest(v.digest),
                v.framework,
                human_size(v.size),
                ", ".join(v.aliases),
                v.created_at[:19] + "Z",
                v.created_by,
            )
        console.print(table)

    Output(json).result(found, human)


# Metadata `mlops convert` records, shown as tables rather than JSON.
_RENDERED_APART = ("parity", "quantization", "environment", "entry")


def _render_conversion(metadata: dict, console: Console) -> None:
    from mlops_cli.cli.parity_view import render_parity

    if isinstance(metadata.get("parity"), dict):
        render_parity(metadata["parity"], console)
    quantization = metadata.get("quantization")
    if isinstance(quantization, dict):
        from mlops_cli.cli.parity_view import quantization_line

        console.print("\n" + quantization_line(quantization), markup=False)
        if isinstance(quantization.get("float_parity"), dict):
            render_parity(quantization["float_parity"], console, title="parity before quantization")


def _files(version: ModelVersion) -> str:
    return plural(len(version.files), "file")


def _environment_line(env: dict) -> str:
    return (
        f"Python {env.get('python')} on {env.get('platform')}, "
        f"{plural(env.get('distributions') or 0, 'distribution')} ({short_digest(env.get('digest', ''))})"
    )


def _entry_rows(entry: dict | None) -> list[tuple[str, str]]:
    """An entry-script version: its script and contract, and its environment in one line each."""
    if not entry:
        return []
    rows = [
        ("entry", f"{entry.get('script')} ({entry.get('form')}: {', '.join(entry.get('functions', []))})")
    ]
    env = entry.get("environment")
    if env:
        pinned = plural(len(env.get("pinned", [])), "pinned package")
        rows.append(
            ("entry env", f"{env.get('file')} ({env.get('kind')}, Python {env.get('python')}, {pinned}, "
             f"{short_digest(env.get('digest', ''))})")
        )  # fmt: skip
    return rows


def _render_version(version: ModelVersion, console: Console) -> None:
    rows = [
        ("ref", version.ref),
        ("digest", version.digest),
        ("framework", version.framework),
        ("size", f"{human_size(version.size)} ({plural(version.size, 'byte')}, {_files(version)})"),
        ("aliases", ", ".join(version.aliases) or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in version.tags.items()) or "-"),
        ("created", f"{version.created_at} by {version.created_by} on {version.host}"),
        ("description", version.description or "-"),
        ("message", version.message or "-"),
        ("source", version.source_path or "-"),
    ]
    if version.git:
        git = version.git
        rows.append(
            (
                "git",
                f"{git.repo} {git.branch or '(detached)'} {git.commit or '(no commit)'}"
                + (" dirty" if git.dirty else ""),
            )
        )
    for artifact in version.artifacts:
        size = artifact.details.get("size")
        if artifact.kind == "profile":
            from mlops_cli.cli.profile_view import one_line

            rows.append(("profile", f"{one_line(artifact.details)} ({artifact.created_at[:19]}Z)"))
            continue
        rows.append(
            (
                artifact.kind,
                f"{artifact.ref} {short_digest(artifact.digest) if artifact.digest else ''}"
                + (f" {human_size(size)}" if isinstance(size, (int, float)) else "")
                + f" ({artifact.created_at[:19]}Z)",
            )
        )
    for dataset in version.datasets:
        rows.append(
            (
                f"dataset ({dataset.role})",
                f"{dataset.path} {short_digest(dataset.digest)} {human_size(dataset.size)}",
            )
        )
    env = version.metadata.get("environment")
    if isinstance(env, dict):
        rows.append(("environment", _environment_line(env)))
    rows += _entry_rows(version.entry)
    for key, value in version.metadata.items():
        if key in _RENDERED_APART:
            continue
        rows.append((key, value if isinstance(value, str) else jsonlib.dumps(value)))
    table = _table("", "")
    table.show_header = False
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    _render_conversion(version.metadata, console)
    if version.signature:
        console.print("\nsignature")
        sig = _table("  KIND", "NAME", "DTYPE", "SHAPE")
        for kind in ("inputs", "outputs"):
            for item in version.signature.get(kind, []):
                sig.add_row(f"  {kind[:-1]}", item["name"], str(item.get("dtype")), str(item.get("shape")))
        console.print(sig)
    console.print("\nfiles")
    files = _table("  PATH", "SIZE", "MODE", "DIGEST")
    for f in version.files:
        files.add_row(f"  {f.path}", human_size(f.size), f"{f.mode:o}", short_digest(f.digest))
    console.print(files)


@app.command("show")
def show(ref: ModelRefArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Show everything recorded about a version: files, signature, lineage, tags.

    Example: mlops models show churn@champion
    """
    from mlops_cli.store.deployments import deployments_of

    with store_for(store) as opened:
        version = manage.show_version(opened, ref)
        deployments = deployments_of(opened.conn, version.name, version.version)

    def human(console: Console) -> None:
        _render_version(version, console)
        if deployments:
            console.print("\ndeployments")
            table = _table("  NAME", "TARGET", "REVISIONS", "SERVING")
            for d in deployments:
                revisions = ", ".join(map(str, d["revisions"]))
                table.add_row(f"  {d['name']}", d["target"], revisions, "yes" if d["live"] else "no")
            console.print(table)

    Output(json).result({**version.to_dict(), "deployments": deployments}, human)


@app.command("tag")
def tag(
    ref: ModelRefArg,
    pairs: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...", help="Tags to set.")],
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Set tags on a version (an existing key gets the new value).

    Example: mlops models tag churn:3 stage=staging owner=ana
    """
    with store_for(store) as opened:
        version = manage.tag_version(opened, ref, pairs, message)
    Output(json).result(
        {"ref": version.ref, "tags": version.tags},
        f"Tagged {version.ref}: " + ", ".join(f"{k}={v}" for k, v in version.tags.items()),
    )


@app.command("untag")
def untag(
    ref: ModelRefArg,
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Tag keys to remove.")],
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Remove tags from a version.

    Example: mlops models untag churn:3 stage
    """
    with store_for(store) as opened:
        version = manage.untag_version(opened, ref, keys, message)
    Output(json).result(
        {"ref": version.ref, "tags": version.tags}, f"Removed {', '.join(keys)} from {version.ref}"
    )


@app.command("alias")
def alias(
    ref: ModelRefArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias, e.g. champion.")],
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Point an alias at a version; it moves if it pointed at another one.

    Example: mlops models alias churn:3 champion
    """
    with store_for(store) as opened:
        change = manage.alias_version(opened, ref, alias_name, message)
    moved = f" (was {change.previous_version})" if change.previous_version else ""
    Output(json).result(change, f"{change.name}@{change.alias} -> {change.name}:{change.version}{moved}")


@app.command("unalias")
def unalias(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias to remove.")],
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Remove an alias.

    Example: mlops models unalias churn champion
    """
    with store_for(store) as opened:
        change = manage.unalias(opened, name, alias_name, message)
    Output(json).result(change, f"Removed {name}@{alias_name} (was {name}:{change.version})")


@app.command("download")
def download(
    ref: ModelRefArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The folder to write the files to.")],
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Write a version's files to a folder, verifying every digest.

    Example: mlops models download churn@champion --output ./model
    """
    out = Output(json)
    with store_for(store) as opened:
        result = manage.download_version(opened, ref, output, force=force, progress=out)
    out.result(
        result,
        f"Downloaded {result.ref} to {result.output} ({plural(result.files, 'file')}, "
        f"{human_size(result.size)}, digests verified)",
    )


@app.command("rm")
def rm(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME:N or NAME@ALIAS (a bare NAME is refused).")],
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete a version's record; its blobs go when nothing else references them.

    Example: mlops models rm churn:2 -m "trained on leaked labels"
    """
    with store_for(store) as opened:
        version, blobs = manage.remove_version(opened, ref, message)
    Output(json).result(
        {"ref": version.ref, "digest": version.digest, "blobs_removed": blobs},
        f"Removed {version.ref} ({plural(blobs, 'blob')} freed)",
    )


@app.command("diff")
def diff(
    ref_a: Annotated[
        str, typer.Argument(metavar="A", help="The version to compare from (NAME:N, NAME@ALIAS).")
    ],
    ref_b: Annotated[str, typer.Argument(metavar="B", help="The version to compare to.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show what changed between two versions: files, signature, tags, lineage, environment.

    Example: mlops models diff churn:3 churn@champion
    """
    from mlops_cli.cli.diff_view import render_diff

    with store_for(store) as opened:
        result = differ.diff_versions(opened, ref_a, ref_b)
    Output(json).result(result, lambda console: render_diff(result, console))
