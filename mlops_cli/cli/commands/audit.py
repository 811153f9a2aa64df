"""`mlops audit ...`: the governance trail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.cli.commands._common import LazyModule, report_leftovers, store_for
from mlops_cli.cli.options import JsonOpt, StoreOpt

if TYPE_CHECKING:
    from rich.console import Console

from mlops_cli.cli.output import Output, human_size, plural
from mlops_cli.errors import CheckFailedError

trail = LazyModule("mlops_cli.audit.trail")

_HELP = "Who did what, when, why and from which commit; verify the trail."
app = typer.Typer(help=_HELP, short_help=_HELP, no_args_is_help=True)


@app.command("log")
def log(
    model: Annotated[Optional[str], typer.Option("--model", help="Only events about this model.")] = None,
    action: Annotated[
        Optional[str], typer.Option("--action", help="Only this action (register, tag, ...).")
    ] = None,
    since: Annotated[
        Optional[str], typer.Option("--since", help="A date, a time, or 7d / 12h / 30m.")
    ] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most this many events.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show audit events, newest first.

    Example: mlops audit log --model churn --since 7d
    """
    with store_for(store) as opened:
        events = trail.audit_log(opened, model=model, action=action, since=since, limit=limit)

    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("SEQ", "TIME (UTC)", "ACTOR", "ACTION", "SUBJECT", "COMMIT", "MESSAGE"):
            table.add_column(column)
        for e in events:
            commit = (e.git.commit or "")[:10] + ("*" if e.git.dirty else "") if e.git else ""
            table.add_row(
                str(e.seq), e.ts[:19].replace("T", " "), e.actor, e.action, e.subject, commit, e.message or ""
            )
        console.print(table)

    Output(json).result(events, human)


@app.command("verify")
def verify(
    head: Annotated[
        Optional[str],
        typer.Option(
            "--head",
            metavar="SEQ:HASH",
            help="Also check the trail still reaches this head (as `mlops audit head` printed it).",
        ),
    ] = None,
    file: Annotated[
        Optional[Path],
        typer.Option("--file", help="Verify an `mlops audit export` file alone (jsonl, csv, parquet)."),
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Check the database, the event chain, the head, the registry against the trail, every blob.

    Exit 5 when anything differs, naming it (`alias churn@prod: table says churn:2, trail
    says churn:1`). With --file, re-verify the chain of an exported file instead, without any
    store. Example: mlops audit verify --head "$(cat recorded-head)" && echo intact
    """
    out = Output(json)
    if file is not None:
        return _verify_export(file, out)
    with store_for(store) as opened:
        report_leftovers(out, opened)
        try:
            report = trail.verify_store(opened, progress=out, expected_head=head)
        except CheckFailedError as failed:
            if json and failed.report is not None:  # scripts get the whole report on stdout too
                out.result(failed.report)
            raise
    for note in report.notes:
        out.note(note)
    out.result(
        report,
        f"Audit trail intact: {plural(report.events, 'event')} chained up to head {report.head[:16]}…,"
        f" {plural(report.versions, 'version')} match the trail, {plural(report.blobs, 'blob')}"
        f" ({human_size(report.bytes)}) re-hashed",
    )


@app.command("head")
def head(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Print the newest audit event as SEQ:HASH, to record in CI logs or git.

    A later `mlops audit verify --head SEQ:HASH` fails (exit 5) if events up to it were
    removed or changed. Example: mlops audit head > audit-head.txt && git add audit-head.txt
    """
    with store_for(store) as opened:
        found = trail.audit_head(opened)
    Output(json).result(found, str(found))


@app.command("recover")
def recover(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="A new project folder: the recovered store is DIR/.mlops."),
    ],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Rebuild a new store from a damaged one's blobs, records and surviving events.

    The damaged store is only read. Versions come back when their events or records survive
    and every blob they name is intact; blobs nobody names come back as `lost-and-found:N`.
    Example: mlops audit recover --output ../rescued && cd ../rescued && mlops audit verify
    """
    from mlops_cli.audit.recover import LOST_AND_FOUND, recover_store

    out = Output(json)
    report = recover_store(store, output, progress=out)
    for ref, why in report.lost.items():
        out.warn(f"{ref} could not be recovered: {why}")
    out.result(
        report,
        f"Recovered {len(report.versions) - report.lost_and_found} versions"
        f" ({report.lost_and_found} unnamed blobs as {LOST_AND_FOUND}), {report.events_recovered} events,"
        f" {report.blobs} blobs into {report.store}; {len(report.lost)} versions lost",
    )


def _verify_export(file: Path, out: Output) -> None:
    from mlops_cli.audit.export import verify_file

    try:
        report = verify_file(file)
    except CheckFailedError as failed:
        if out.json_mode:
            out.result(failed.report)
        raise
    scope = "from the genesis" if report.complete else f"from event {report.first_seq} (a partial export)"
    out.result(
        report,
        f"Export intact: {report.events} events chained {scope} to event {report.last_seq}, "
        f"last hash {report.last_hash}",
    )
