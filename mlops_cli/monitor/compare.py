"""One column compared: the metric Evidently's rules choose, its verdict, and data quality."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.monitor import metrics
from mlops_cli.monitor.baseline import Column
from mlops_cli.monitor.categories import OTHER, Categories
from mlops_cli.monitor.scan import CATEGORICAL, NUMERIC
from mlops_cli.monitor.sketch import Binned

TOP_CATEGORIES = 20  # categories listed per column in the result (all are compared)


@dataclass
class Sides:
    """Reference and current summaries of the columns being compared."""

    columns: dict[str, Column]  # the reference side (from a baseline or a reference file)
    current: dict[str, Any]
    rows: int
    exact: bool


@dataclass
class ColumnCheck:
    name: str
    role: str
    kind: str
    status: str  # checked, missing, empty (no values in the reference or the current data)
    metric: str | None = None
    score: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    drift: bool = False
    note: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "status": self.status,
            "metric": self.metric,
            "score": _finite(self.score),
            "p_value": _finite(self.p_value),
            "threshold": self.threshold,
            "drift": self.drift,
            "note": self.note,
            "quality": self.quality,
            "reference": self.reference,
            "current": self.current,
        }


def _finite(value: float | None) -> float | None:
    """The value, or None for NaN and infinity (a chi-square against a category the reference
    never had), which JSON cannot carry; the verdict still says drift."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def compare_column(column: Column, current: Any, metric: str, threshold: float | None) -> ColumnCheck:
    """One column's verdict, statistics and data quality, reference against current."""
    reference = column.summary
    check = ColumnCheck(column.name, column.role, column.kind, "checked")
    numeric = column.kind == NUMERIC
    stats, quality = (_numeric_stats, _numeric_quality) if numeric else (_category_stats, _category_quality)
    check.reference, check.current = stats(reference), stats(current)
    check.quality = quality(reference, current)
    if reference.n == 0 or current.n == 0:
        check.status = "empty"
        check.note = "no values in the " + ("reference" if reference.n == 0 else "current data")
        return check
    if numeric:
        assert isinstance(reference, (Binned, metrics.Raw))
        n_values = metrics.numeric_n_values(reference, current)
        metric, check.note = metrics.resolve_metric(metric, NUMERIC, reference.n, n_values)
        score = metrics.numeric_score(metric, reference, current, threshold)
    else:
        assert isinstance(reference, Categories)
        n_values = len(set(reference.counts) | set(current.counts))
        metric, check.note = metrics.resolve_metric(metric, CATEGORICAL, reference.n, n_values)
        score = metrics.categorical_score(metric, reference, current, threshold)
    check.metric, check.score, check.p_value = score.metric, score.score, score.p_value
    check.threshold, check.drift = score.threshold, score.drift
    return check


def _numeric_stats(side: Binned | metrics.Raw) -> dict[str, Any]:
    stats = side.moments.to_dict()
    stats.pop("m2")
    return stats


def _numeric_quality(reference: Binned | metrics.Raw, current: Binned | metrics.Raw) -> dict[str, Any]:
    quality = _missing(reference.moments.missing_rate, current.moments.missing_rate)
    low, high = reference.moments.min, reference.moments.max
    if current.n and low is not None and high is not None:
        if isinstance(current, Binned):
            outside = int(current.open[0] + current.open[-1]) if current.knots.size else current.n
        else:
            import numpy as np

            below = int(np.searchsorted(current.values, low, "left"))
            outside = below + current.n - int(np.searchsorted(current.values, high, "right"))
        quality["out_of_range"] = outside
        quality["out_of_range_share"] = outside / current.n
    else:
        quality["out_of_range"], quality["out_of_range_share"] = None, None
    return quality


def _category_stats(side: Categories) -> dict[str, Any]:
    top = sorted(side.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
    return {
        "count": side.n,
        "missing": side.missing,
        "missing_rate": side.missing_rate,
        "categories": len(side.counts),
        "top": [{"value": k, "count": v, "share": v / side.n if side.n else 0.0} for k, v in top],
    }


def _category_quality(reference: Categories, current: Categories) -> dict[str, Any]:
    quality = _missing(reference.missing_rate, current.missing_rate)
    unseen = {k: v for k, v in current.counts.items() if k not in reference.counts and k != OTHER}
    quality["unseen_categories"] = sorted(unseen, key=lambda k: (-unseen[k], k))[:TOP_CATEGORIES]
    quality["unseen_count"] = len(unseen)
    quality["unseen_share"] = sum(unseen.values()) / current.n if current.n else 0.0
    return quality


def _missing(reference: float, current: float) -> dict[str, Any]:
    return {
        "missing_rate_reference": reference,
        "missing_rate_current": current,
        "missing_rate_change": current - reference,
    }
