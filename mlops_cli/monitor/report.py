"""The HTML report: one self-contained file (no network), plots made by matplotlib.

Each column gets one small SVG inlined in the page: numeric columns the reference and current
histograms over HISTOGRAM_BINS shared bins (drawn as two outlines with `stairs`, a path each,
not one rectangle per bin), categorical columns the shares of the most frequent categories side
by side. Text stays text (`svg.fonttype: none`), so a 200-column report stays well under 2 MB.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MissingDependencyError, MlopsError
from mlops_cli.monitor import metrics
from mlops_cli.monitor.categories import Categories
from mlops_cli.monitor.scan import NUMERIC

if TYPE_CHECKING:
    from mlops_cli.monitor.compare import Sides

HISTOGRAM_BINS = 40
TOP_BARS = 12
REFERENCE_COLOUR, CURRENT_COLOUR = "#4c72b0", "#dd8452"

_CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:0 0 4px} .muted{color:#666}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:600;color:#fff}
.drift{background:#c0392b} .ok{background:#2e8b57}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left} th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums} tr.drifted td{background:#fdecea}
.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px;width:360px} .card svg{width:100%;height:auto}
"""


def write_report(path: Path, result: dict[str, Any], sides: Sides) -> Path:
    """Write the report for a check's `result`; return the path written.

    Written under a temp name and renamed, so a failed render leaves no half file.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "monitor") from exc
    matplotlib.use("Agg", force=True)
    path = Path(path)
    import matplotlib.pyplot as plt

    cards = []
    with plt.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "mlops",
            "font.size": 7,
            "font.family": "sans-serif",
            "font.sans-serif": ["DejaVu Sans"],
        }
    ):
        figure = plt.figure(figsize=(4.2, 2.0), dpi=72)
        try:
            for column in result["columns"]:
                if column["status"] != "checked":
                    continue
                reference = sides.columns[column["name"]].summary
                current = sides.current[column["name"]]
                cards.append(_card(column, _plot(figure, column, reference, current)))
        finally:
            plt.close(figure)
    document = _page(result, cards)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(document, encoding="utf-8")
        temp.replace(path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise MlopsError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
    return path.absolute()


def _plot(figure: Any, column: dict[str, Any], reference: Any, current: Any) -> str:
    """One column's plot as compact inline SVG (the figure is reused: creating one costs more)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    figure.clf()
    ax = figure.add_axes((0.16, 0.14, 0.82, 0.82))
    if column["kind"] == NUMERIC:
        edges = histogram_edges(reference, current)
        ref_share = metrics.histogram(reference, edges) / max(reference.n, 1)
        cur_share = metrics.histogram(current, edges) / max(current.n, 1)
        ax.stairs(ref_share, edges, fill=True, alpha=0.35, color=REFERENCE_COLOUR, label="reference")
        ax.stairs(cur_share, edges, color=CURRENT_COLOUR, linewidth=1.5, label="current")
    else:
        assert isinstance(reference, Categories) and isinstance(current, Categories)
        keys = _top_categories(reference, current)
        ref_share = [reference.counts.get(k, 0) / max(reference.n, 1) for k in keys]
        cur_share = [current.counts.get(k, 0) / max(current.n, 1) for k in keys]
        y = np.arange(len(keys))
        ax.barh(y - 0.2, ref_share, height=0.4, color=REFERENCE_COLOUR, label="reference")
        ax.barh(y + 0.2, cur_share, height=0.4, color=CURRENT_COLOUR, label="current")
        ax.set_yticks(y, [k[:14] for k in keys])
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=6)
    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.legend(loc="best", frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    buffer = io.StringIO()
    figure.savefig(
        buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
    )
    return _compact(buffer.getvalue())


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)
_PATH_DATA = re.compile(r' d="[^"]*"')
_DECIMALS = re.compile(r"(\d\.\d)\d+")
_SPACE = re.compile(r"\s*\n\s*")
_GROUP_ID = re.compile(r'<g id="[^"]*">')
_NO_ROTATION = re.compile(r' transform="rotate\(-0 [^"]*\)"')


def _compact(svg: str) -> str:
    """Inline-ready SVG: no prolog or metadata, coordinates to 0.1 pt, no line breaks."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg)
    svg = _PATH_DATA.sub(lambda m: _DECIMALS.sub(r"\1", m.group(0)), svg)  # not the tick labels
    svg = _GROUP_ID.sub("<g>", svg)
    svg = _NO_ROTATION.sub("", svg)
    return _SPACE.sub(" ", svg)


def histogram_edges(reference: Any, current: Any) -> Any:
    """Shared bins over both sides' range (at most HISTOGRAM_BINS; one per value when few)."""
    import numpy as np

    low = min(v for v in (reference.moments.min, current.moments.min) if v is not None)
    high = max(v for v in (reference.moments.max, current.moments.max) if v is not None)
    if low == high:
        return np.array([low - 0.5, high + 0.5])
    return np.linspace(low, high, HISTOGRAM_BINS + 1)


def _top_categories(reference: Categories, current: Categories) -> list[str]:
    totals: dict[str, float] = {}
    for side in (reference, current):
        for key, count in side.counts.items():
            totals[key] = totals.get(key, 0.0) + count / max(side.n, 1)
    return sorted(totals, key=lambda k: (-totals[k], k))[:TOP_BARS]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _card(column: dict[str, Any], svg: str) -> str:
    quality = column["quality"]
    facts = [
        f"{_fmt(column['metric'])} {_fmt(column['score'])}",
        f"p {_fmt(column['p_value'])}" if column["p_value"] is not None else "",
        f"threshold {_fmt(column['threshold'])}",
        f"missing {quality.get('missing_rate_current', 0):.1%}",
    ]
    verdict = (
        '<span class="verdict drift">drift</span>'
        if column["drift"]
        else '<span class="verdict ok">ok</span>'
    )
    return (
        f'<div class="card"><h3>{html.escape(column["name"])} {verdict}</h3>'
        f'<div class="muted">{html.escape(column["role"])}, {html.escape(column["kind"])}:'
        f" {' · '.join(f for f in facts if f)}</div>{svg}</div>"
    )


def _page(result: dict[str, Any], cards: list[str]) -> str:
    drift = result["dataset_drift"]
    verdict = (
        '<span class="verdict drift">dataset drift</span>'
        if drift
        else '<span class="verdict ok">no dataset drift</span>'
    )
    source = result["source"]
    what = (
        source.get("deployment")
        or source.get("folder")
        or ", ".join(Path(f["path"]).name for f in source.get("files", []))
    )
    rows = [_row(c) for c in result["columns"]]
    served = result.get("served")
    served_html = ""
    if served:
        latency = served.get("latency_ms") or {}
        cells = (served["requests"], served.get("error_rate"), latency.get("p50"), latency.get("p99"))
        served_html = (
            "<h2>Served traffic</h2><table><tr><th>requests</th><th>error rate</th><th>p50 ms</th>"
            "<th>p99 ms</th></tr><tr>"
            + "".join(f'<td class="num">{_fmt(v)}</td>' for v in cells)
            + "</tr></table>"
        )
    prediction = result["prediction_drift"]
    lists = []
    for key, label in (
        ("missing_columns", "Missing columns"),
        ("extra_columns", "Ignored columns"),
        ("empty_columns", "Empty columns"),
    ):
        if result[key]:
            lists.append(f"<p><b>{label}:</b> {html.escape(', '.join(result[key]))}</p>")
    if prediction["drift"]:
        predictions = "drift in " + html.escape(", ".join(prediction["columns"]))
    else:
        predictions = "no drift" if prediction["checked"] else "not checked"
    compared = "the reference file" if result["mode"] == "reference" else "the stored baseline"
    headers = (
        "column",
        "role",
        "kind",
        "metric",
        "score",
        "p-value",
        "threshold",
        "verdict",
        "missing",
        "quality",
    )
    header_row = "<tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: {html.escape(result["model"])}</title>
<style>{_CSS}</style></head><body>
<h1>Drift report: {html.escape(result["model"])}</h1>
<p class="muted">{html.escape(result.get("checked_at") or "")} · current data: {html.escape(what)}
({result["rows"]:,} rows) · compared with {compared}</p>
<p>{verdict} {result["features_drifted"]} of {result["features_checked"]} features drifted
(share {result["share_drifted"]:.2f}, limit {result["drift_share"]}).
Predictions: {predictions}.</p>
{"".join(lists)}
{served_html}
<h2>Columns, most drifted first</h2>
<table>{header_row}{"".join(rows)}</table>
<h2>Distributions</h2>
<p class="muted">Reference (filled, blue) and current (outline, orange):
share of rows per bin, or per category.</p>
<div class="grid">{"".join(cards)}</div>
</body></html>
"""


def _row(column: dict[str, Any]) -> str:
    """One line of the summary table."""
    quality = column["quality"] or {}
    note = ""
    if quality.get("out_of_range_share"):
        note = f"{quality['out_of_range_share']:.2%} out of range"
    elif quality.get("unseen_count"):
        note = f"{quality['unseen_count']} unseen ({quality['unseen_share']:.2%})"
    verdict = "DRIFT" if column["drift"] else ("ok" if column["status"] == "checked" else column["status"])
    text = (column["name"], column["role"], column["kind"], column["metric"])
    numbers = (column["score"], column["p_value"], column["threshold"])
    return (
        f'<tr class="{"drifted" if column["drift"] else ""}">'
        + "".join(f"<td>{_fmt(v)}</td>" for v in text)
        + "".join(f'<td class="num">{_fmt(v)}</td>' for v in numbers)
        + f'<td>{verdict}</td><td class="num">{_fmt(quality.get("missing_rate_current"))}</td>'
        + f"<td>{html.escape(note)}</td></tr>"
    )
