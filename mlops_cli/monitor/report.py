"""The HTML report: one self-contained file (no network), plots made by matplotlib.

Each column gets one small SVG inlined in the page: numeric columns the reference and current
histograms over HISTOGRAM_BINS shared bins (drawn as two outlines with `stairs`, a path each,
not one rectangle per bin), categorical columns the shares of the most frequent categories side
by side. Text stays text (`svg.fonttype: none`), so a 200-column report stays well under 2 MB.
The page is `templates/drift_report.html.j2`, rendered by Jinja2 with autoescape on: every value
from the data (column names, categories, paths) is escaped; only the SVG plots are trusted.
"""

from __future__ import annotations

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
    document = _render(result, cards)
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
    return str(value)


def _card(column: dict[str, Any], svg: str) -> dict[str, Any]:
    """One column's plot and its facts, for the page's grid of cards."""
    from markupsafe import Markup

    quality = column["quality"]
    facts = [
        f"{_fmt(column['metric'])} {_fmt(column['score'])}",
        f"p {_fmt(column['p_value'])}" if column["p_value"] is not None else "",
        f"threshold {_fmt(column['threshold'])}",
        f"missing {quality.get('missing_rate_current', 0):.1%}",
    ]
    return {
        "name": column["name"],
        "role": column["role"],
        "kind": column["kind"],
        "drift": column["drift"],
        "facts": " · ".join(f for f in facts if f),
        "svg": Markup(svg),  # made by matplotlib here, which escapes the text it draws
    }


def _render(result: dict[str, Any], cards: list[dict[str, Any]]) -> str:
    """The page, from the template with autoescape on."""
    try:
        import jinja2
    except ImportError as exc:
        raise MissingDependencyError("jinja2", "monitor") from exc
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_cli.monitor", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template("drift_report.html.j2").render(_context(result, cards))


def _context(result: dict[str, Any], cards: list[dict[str, Any]]) -> dict[str, Any]:
    """What the template shows, formatted; the template escapes it."""
    source = result["source"]
    prediction = result["prediction_drift"]
    if prediction["drift"]:
        predictions = "drift in " + ", ".join(prediction["columns"])
    else:
        predictions = "no drift" if prediction["checked"] else "not checked"
    served = result.get("served")
    if served:
        latency = served.get("latency_ms") or {}
        cells = (served["requests"], served.get("error_rate"), latency.get("p50"), latency.get("p99"))
        served = [_fmt(value) for value in cells]
    lists = (
        ("missing_columns", "Missing columns"),
        ("extra_columns", "Ignored columns"),
        ("empty_columns", "Empty columns"),
    )
    return {
        "model": result["model"],
        "checked_at": result.get("checked_at") or "",
        "source": source.get("deployment")
        or source.get("folder")
        or ", ".join(Path(f["path"]).name for f in source.get("files", [])),
        "rows": f"{result['rows']:,}",
        "compared": "the reference file" if result["mode"] == "reference" else "the stored baseline",
        "dataset_drift": result["dataset_drift"],
        "features_drifted": result["features_drifted"],
        "features_checked": result["features_checked"],
        "share_drifted": f"{result['share_drifted']:.2f}",
        "drift_share": result["drift_share"],
        "predictions": predictions,
        "lists": [(label, ", ".join(result[key])) for key, label in lists if result[key]],
        "served": served,
        "columns": [_row(c) for c in result["columns"]],
        "cards": cards,
    }


def _row(column: dict[str, Any]) -> dict[str, Any]:
    """One line of the summary table."""
    quality = column["quality"] or {}
    note = ""
    if quality.get("out_of_range_share"):
        note = f"{quality['out_of_range_share']:.2%} out of range"
    elif quality.get("unseen_count"):
        note = f"{quality['unseen_count']} unseen ({quality['unseen_share']:.2%})"
    return {
        "drift": column["drift"],
        "text": [_fmt(column[k]) for k in ("name", "role", "kind", "metric")],
        "numbers": [_fmt(column[k]) for k in ("score", "p_value", "threshold")],
        "verdict": "DRIFT"
        if column["drift"]
        else ("ok" if column["status"] == "checked" else column["status"]),
        "missing": _fmt(quality.get("missing_rate_current")),
        "note": note,
    }
