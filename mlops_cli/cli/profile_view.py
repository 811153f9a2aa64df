"""How a profile looks: a rich table, a Markdown table (tabulate) for CI comments, a one-liner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.cli.output import human_size

if TYPE_CHECKING:
    from rich.console import Console

HEADERS = (
    "MODE", "BATCH", "THREADS", "WORKERS", "CONC", "CPU LIMIT", "REQ/S", "ROWS/S", "OK %",
    "P50 MS", "P95 MS", "P99 MS", "CPU USED", "ROWS/CPU-S", "PEAK RSS", "SPREAD", "NOTE",
)  # fmt: skip


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def rows(result: dict[str, Any]) -> list[list[str]]:
    chosen = (result.get("recommendation") or {}).get("point")
    best = (result.get("best") or {}).get("index")
    several = len((result.get("settings") or {}).get("providers") or ()) > 1  # the mode names each one
    table = []
    for point in result["points"]:
        spread = point["spread"]["rows_per_s"]
        notes = []
        if point["index"] == chosen:
            notes.append("recommended")
        if point["index"] == best:
            notes.append("best found")
        if point["client_limited"]:
            notes.append("client-limited")
        if point["failed"]:
            notes.append(f"{point['failed']} failed")
        table.append(
            [
                point["mode"]
                + (f" {point.get('provider', '').removesuffix('ExecutionProvider')}" if several else ""),
                str(point["batch_size"]),
                str(point["threads"]),
                str(point["workers"]),
                str(point["concurrency"]),
                "-" if point["cpu_limit"] is None else f"{point['cpu_limit']:g}",
                _number(point["requests_per_s"]),
                _number(point["rows_per_s"], 0),
                f"{point['success_rate'] * 100:.1f}",
                _number(point["p50_ms"], 2),
                _number(point["p95_ms"], 2),
                _number(point["p99_ms"], 2),
                _number(point["cpu_used"], 2),
                _number(point.get("rows_per_cpu_s"), 0),
                human_size(point["peak_rss_bytes"]),
                "-" if spread is None else f"{spread:.0%}",
                ", ".join(notes),
            ]
        )
    return table


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    ceiling = result.get("client_ceiling_requests_per_s") or {}
    if ceiling:
        lines.append(
            "load generator ceiling (trivial server): "
            + ", ".join(f"{float(v):,.0f} req/s at {c}" for c, v in ceiling.items())
        )
    rec = result.get("recommendation")
    if rec:
        confirmed = {True: "confirmed in a container", False: "NOT confirmed", None: "not re-measured"}
        lines.append(
            f"recommendation ({result['basis']}): cpu {rec['cpu']:g}, memory {rec['memory']}, "
            f"{rec['workers']} worker(s) x {rec['threads']} thread(s), batch up to {rec['max_batch_size']}"
            f" — {confirmed[rec['confirmed']]}"
        )
        lines.append(f"  cpu: {rec['cpu_basis']}; memory: peak RSS + {rec['memory_headroom']:.0%}")
    lines += _provider_lines(result.get("providers") or {})
    if result.get("confirmation") and result["confirmation"].get("point"):
        point = result["confirmation"]["point"]
        lines.append(
            f"  re-measured: {_number(point['rows_per_s'], 0)} rows/s, p99 {_number(point['p99_ms'], 2)} ms,"
            f" {point['success_rate'] * 100:.1f} % ok"
            + (" (out of memory)" if result["confirmation"]["oom_killed"] else "")
        )
    elif result.get("confirmation") and result["confirmation"].get("error"):
        lines.append(f"  confirmation failed: {result['confirmation']['error']}")
    if result.get("best"):
        lines.append(
            f"best found: point {result['best']['index']} (marked above); no configuration met the targets"
        )
    if result.get("duration_s") is not None:
        lines.append(f"measured in {result['duration_s']:.1f} s")
    return lines


def _provider_lines(providers: dict[str, Any]) -> list[str]:
    """Per provider: its own best by the same rule; the skipped ones with why."""
    if len(providers.get("measured") or ()) + len(providers.get("skipped") or ()) < 2:
        return []
    lines = [f"execution provider recommended: {providers['recommended']}"]
    for entry in providers.get("per_provider") or ():
        rec = entry["recommendation"]
        lines.append(
            f"  {entry['provider']}: cpu {rec['cpu']:g}, {_number(entry['rows_per_s'], 0)} rows/s,"
            f" p99 {_number(entry['p99_ms'], 2)} ms"
            if rec
            else f"  {entry['provider']}: {entry['reason']}"
        )
    lines += [f"  {s['provider']}: skipped, {s['reason']}" for s in providers.get("skipped") or ()]
    return lines


def render(result: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("MODE", "NOTE") else "right", no_wrap=True)
    body = rows(result)
    for row in body:
        table.add_row(*row)
    # Never squash figures into ellipses: a narrow terminal wraps the lines instead.
    needed = sum(max(len(h), *(len(r[i]) for r in body)) + 2 for i, h in enumerate(HEADERS)) if body else 0
    if needed > console.width:
        table.width = needed
    console.print(f"profile of {result['ref']} ({result['data']['source']})", markup=False)
    console.print(table, crop=False)
    for line in summary_lines(result):
        console.print(line, markup=False)


def markdown(result: dict[str, Any]) -> str:
    from tabulate import tabulate

    text = f"### Profile of `{result['ref']}` ({result['data']['source']})\n\n"
    text += tabulate(rows(result), headers=HEADERS, tablefmt="github", disable_numparse=True)
    text += "\n\n" + "\n".join(f"- {line.strip()}" for line in summary_lines(result)) + "\n"
    return text


def one_line(details: dict[str, Any]) -> str:
    """What `models show` prints for a stored profile."""
    rec = details.get("recommendation") or {}
    confirmed = {True: "confirmed", False: "not confirmed", None: "not re-measured"}[rec.get("confirmed")]
    targets = details.get("targets") or {}
    wanted = ", ".join(
        part
        for part in (
            f"p99 <= {targets['p99_ms']:g} ms" if targets.get("p99_ms") else "",
            f">= {targets['rows_per_s']:g} rows/s" if targets.get("rows_per_s") else "",
        )
        if part
    )
    return (
        f"cpu {rec.get('cpu')}, memory {rec.get('memory')}, {rec.get('workers')} worker(s) x "
        f"{rec.get('threads')} thread(s), batch {rec.get('max_batch_size')}; {confirmed}"
        + (f"; targets {wanted}" if wanted else "")
        + f"; {details.get('basis')}, {len(details.get('points') or [])} points"
    )
