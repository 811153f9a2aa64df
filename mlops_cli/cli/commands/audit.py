"""`mlops audit ...`: the governance trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.audit import trail
from mlops_cli.cli.commands._common import report_leftovers, store_for
from mlops_cli.cli.options import JsonOpt, StoreOpt

if TYPE_CHECKING:
    from rich.console import Console

from mlops_cli.cli.output import Output, human_size
from mlops_cli.errors import CheckFailedError

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
def verify(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Recompute the event hash chain and re-hash every stored blob (exit 5 if broken).

    Example: mlops audit verify && echo intact
    """
    out = Output(json)
    with store_for(store) as opened:
        report_leftovers(out, opened)
        try:
            report = trail.verify_store(opened, progress=out)
        except CheckFailedError as failed:
            if json:  # scripts get the whole report on stdout as well as the exit code 5
                out.result(failed.report)
            raise
    out.result(
        report,
        f"Audit trail intact: {report.events} events chained, {report.blobs} blobs "
        f"({human_size(report.bytes)}) re-hashed",
    )
