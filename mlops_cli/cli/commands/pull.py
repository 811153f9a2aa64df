"""`mlops pull`: bring versions from a remote into this store."""

from __future__ import annotations

from mlops_cli.cli.commands._common import LazyModule, store_for
from mlops_cli.cli.commands.push import AllOpt, RefsArg, RemoteOpt
from mlops_cli.cli.options import JsonOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, plural

pulling = LazyModule("mlops_cli.remote.pull")


def pull(
    refs: RefsArg = None,
    all_versions: AllOpt = False,
    remote: RemoteOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Pull versions from a remote: every blob verified on arrival, then records and audit events.

    NAME means the remote's latest version. A version keeps the remote's number unless this
    store holds another version under it (then it takes the next number, and says so).

    Example: mlops pull churn:3 --remote team
    """
    out = Output(json)
    with store_for(store) as opened:
        result = pulling.pull(opened, refs or [], all_versions=all_versions, remote_name=remote, progress=out)
    for note in result.notes:
        out.warn(note)
    lines = [f"{v.remote_ref} ← {result.remote['name']} as {v.ref}" for v in result.versions]
    lines.append(
        f"Pulled {plural(len(result.versions), 'version')} ({plural(result.blobs_downloaded, 'blob')},"
        f" {human_size(result.bytes_downloaded)}), {plural(result.events_pulled, 'event')};"
        f" {result.up_to_date} already here"
    )
    out.result(result, "\n".join(lines))
