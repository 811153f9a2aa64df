"""`mlops audit deliveries|deliver|lineage|export`: the governance subcommands of `mlops audit`.

Kept apart from audit.py (log, verify) so each module stays small; `register()` adds them to
the `audit` sub-app.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, ModelRefArg, StoreOpt
from mlops_cli.cli.output import Output
from mlops_cli.errors import ExternalToolError, UsageError

if TYPE_CHECKING:
    from rich.console import Console


def deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed.")] = False,
    status: Annotated[
        Optional[str], typer.Option("--status", help="Only this status: pending, sending, delivered, failed.")
    ] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most this many, newest first.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show hook deliveries (webhooks, commands): status, attempts, last error.

    Every delivery of every event to every hook of .mlops/config.yaml is kept, newest first.

    Example: mlops audit deliveries --failed
    """
    from mlops_cli.events import service

    with store_for(store) as opened:
        rows = service.list_deliveries(opened, failed=failed, status=status, limit=limit)

    def human(console: Console) -> None:
        if not rows:
            console.print("No deliveries" + (" failed" if failed else "") + ".")
            return
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("ID", "EVENT", "ACTION", "HOOK", "STATUS", "TRIES", "LAST ERROR"):
            table.add_column(column)
        for d in rows:
            table.add_row(
                str(d.id),
                str(d.event_seq),
                d.event,
                d.hook.get("name") or d.target,
                d.status,
                str(d.attempts),
                d.last_error or "",
            )
        console.print(table)

    Output(json).result(rows, human)


def deliver(
    failed: Annotated[bool, typer.Option("--failed", help="Retry the failed deliveries too.")] = False,
    ids: Annotated[
        Optional[list[int]],
        typer.Option("--id", help="Replay this delivery (repeatable), even if sent."),
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Send pending hook deliveries now, in the foreground (exit 4 if any fails).

    Commands deliver in a background process after they commit; this is for cron, CI and
    replays after fixing a receiver.

    Example: mlops audit deliver --failed
    """
    from mlops_cli.events import service

    out = Output(json)
    with store_for(store) as opened:
        run = service.deliver_now(opened, failed=failed, ids=ids)
    out.result(run, f"{run.delivered} delivered, {run.failed} failed")
    if run.failed:
        raise ExternalToolError(
            f"{run.failed} of {run.delivered + run.failed} deliveries failed",
            hint="see `mlops audit deliveries --failed`",
        )


def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or parquet.")] = "jsonl",
    since: Annotated[
        Optional[str], typer.Option("--since", help="Only events from this date, time, or 7d / 12h ago.")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write here (atomically); default: stdout.")
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Export audit events with their chain hashes, for BI tools and auditors.

    The file re-verifies on its own: mlops audit verify --file FILE. With --json, the summary
    (events, first and last sequence numbers, last hash) is printed; it needs --output.

    Example: mlops audit export --format parquet --since 30d -o audit.parquet
    """
    from mlops_cli.audit.export import export_events

    if json and output is None:
        raise UsageError("--json prints the export's summary: give --output FILE for the events")
    out = Output(json)
    with store_for(store) as opened:
        result = export_events(opened, fmt, since=since, output=output)
    if output is not None:
        out.result(
            result, f"Exported {result.events} events to {result.output} (last hash {result.last_hash})"
        )


def lineage(
    ref: ModelRefArg,
    downstream: Annotated[
        bool,
        typer.Option("--downstream", help="What depends on this version, instead of where it came from."),
    ] = False,
    dot: Annotated[
        bool, typer.Option("--dot", help="Print Graphviz dot text (pipe to `dot -Tsvg`).")
    ] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show a version's lineage: datasets, commit, source model, conversions, images, deployments,
    batch jobs and drift checks.

    Example: mlops audit lineage churn@champion --dot | dot -Tsvg > lineage.svg
    """
    from mlops_cli.audit.lineage import lineage as build

    if dot and json:
        raise UsageError("choose one of --dot and --json")
    with store_for(store) as opened:
        graph = build(opened, ref, downstream=downstream)
    if dot:
        sys.stdout.write(graph.to_dot())
        return
    Output(json).result(graph, lambda console: console.print(_tree(graph)))


def _tree(graph):
    """The graph as a rich Tree around the version: where it came from, then what it fed."""
    from rich.tree import Tree

    nodes = {n.id: n for n in graph.nodes}

    def label(node_id: str, relation: str = "") -> str:
        node = nodes[node_id]
        prefix = f"[{relation}] " if relation else ""
        return f"{prefix}{node.kind} {node.label}"

    def grow(branch, node_id: str, upstream: bool, seen: set[str]) -> None:
        for edge in graph.edges:
            other = edge.source if upstream else edge.target
            if (edge.target if upstream else edge.source) != node_id or other in seen:
                continue
            child = branch.add(label(other, edge.relation), highlight=False)
            grow(child, other, upstream, seen | {other})

    tree = Tree(label(graph.root), highlight=False)
    if graph.direction == "upstream":
        grow(tree.add("came from"), graph.root, True, {graph.root})
    grow(
        tree.add("built from it" if graph.direction == "upstream" else "depends on it"),
        graph.root,
        False,
        {graph.root},
    )
    return tree


COMMANDS = {"deliveries": deliveries, "deliver": deliver, "export": export, "lineage": lineage}


def register(app: typer.Typer) -> None:
    """Add these subcommands to the `mlops audit` sub-app."""
    for name, function in COMMANDS.items():
        app.command(name)(function)
