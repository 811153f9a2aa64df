"""One measured point's figures from its load runs, and the subset sizing needs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mlops_cli.profile import stats
from mlops_cli.profile.recommend import Measured

if TYPE_CHECKING:
    from mlops_cli.profile.loadgen import LoadResult

SLICES = 5
MIN_SLICED_ANSWERS = 100  # 20 answers per slice at least
# A p99 read from fewer requests is little more than the slowest few: the sweep runs extra
# windows (at most one more --duration per point) until a point has this many latencies.
MIN_P99_SAMPLES = 2000


def point_figures(
    mode: str,
    batch: int,
    threads: int,
    workers: int,
    concurrency: int,
    cpu_limit: float | None,
    runs: list[tuple[LoadResult, float]],
    peak_rss: int,
    paced: bool = False,
    tail: list[float] | None = None,
) -> dict[str, Any]:
    """One point's figures: medians over the repeats, their spread, and each repeat's own.

    Latency percentiles are read from every repeat's latencies pooled, plus `tail`: latencies of
    extra windows run only so that the p99 rests on enough requests (see `MIN_P99_SAMPLES`);
    `p99_ci_ms` is its 95 % confidence interval and the recommendation reads its upper end.
    """
    repeats = []
    for result, cpu_seconds in runs:
        elapsed = result.elapsed or 1e-9
        summary = stats.latency_summary(result.latencies)
        # Throughput is the median over five slices of the window, so a burst of other work on a
        # shared machine moves it less than a mean would. A paced run's rate is its count, and
        # so is a slow model's: slices of a few answers each would only add rounding noise.
        sliced = None
        if not paced and len(result.finished) >= MIN_SLICED_ANSWERS:
            sliced = stats.median(result.slice_rates(SLICES))
        per_s = sliced if sliced is not None else result.ok / elapsed
        cpu_used = cpu_seconds / elapsed
        whole = result.ok * batch / elapsed
        repeats.append(
            {
                "requests": result.requests,
                "failed": result.failed,
                "requests_per_s": round(per_s, 2),
                "rows_per_s": round(per_s * batch, 2),
                "rows_per_s_whole_window": round(whole, 2),
                "rows_per_cpu_s": round(whole / cpu_used, 2) if cpu_used > 0 else None,
                "cpu_used": round(cpu_used, 4),
                "first_error": result.first_error,
                **summary,
            }
        )

    def med(key: str) -> float | None:
        values = [r[key] for r in repeats if r[key] is not None]
        return round(stats.median(values), 4) if values else None

    requests = sum(r["requests"] for r in repeats)
    failed = sum(r["failed"] for r in repeats)
    pooled = sorted([latency for result, _ in runs for latency in result.latencies] + list(tail or ()))
    latency = stats.latency_summary(pooled)
    interval = stats.p99_interval(pooled)
    return {
        "mode": mode,
        "batch_size": batch,
        "threads": threads,
        "workers": workers,
        "concurrency": concurrency,
        "cpu_limit": cpu_limit,
        "memory_limit": None,
        "requests": requests,
        "failed": failed,
        "success_rate": round((requests - failed) / requests, 6) if requests else 0.0,
        "requests_per_s": med("requests_per_s"),
        "rows_per_s": med("rows_per_s"),
        "rows_per_s_whole_window": med("rows_per_s_whole_window"),
        "rows_per_cpu_s": med("rows_per_cpu_s"),
        **latency,
        "p99_ci_ms": [round(v * 1000, 4) for v in interval] if interval else None,
        "latency_samples": len(pooled),
        "cpu_used": med("cpu_used"),
        "cpu_used_max": max(r["cpu_used"] for r in repeats),
        "peak_rss_bytes": peak_rss,
        "client_limited": False,
        "spread": {
            "rows_per_s": _rounded(stats.spread([r["rows_per_s"] for r in repeats])),
            "rows_per_cpu_s": _rounded(
                stats.spread([r["rows_per_cpu_s"] for r in repeats if r["rows_per_cpu_s"]])
            ),
            "p99_ms": _rounded(stats.spread([r["p99_ms"] for r in repeats if r["p99_ms"] is not None])),
        },
        "first_error": next((r["first_error"] for r in repeats if r["first_error"]), None),
        "repeats": repeats,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def measured(point: dict[str, Any]) -> Measured:
    return Measured(
        rows_per_s=point["rows_per_s"] or 0.0,
        p99_ms=point["p99_ci_ms"][1] if point.get("p99_ci_ms") else point["p99_ms"],  # the bound
        cpu_used=point["cpu_used"] or 0.0,
        peak_rss_bytes=point["peak_rss_bytes"],
        success_rate=point["success_rate"],
        batch_size=point["batch_size"],
        threads=point["threads"],
        workers=point["workers"],
        concurrency=point["concurrency"],
        index=point["index"],
        rows_per_cpu_s=point.get("rows_per_cpu_s"),
        parallelism=parallelism(point),
    )


def parallelism(point: dict[str, Any]) -> int:
    """The most cores a configuration keeps busy: a serving worker runs its model on one event
    loop with one intra-op thread; in-process, each calling thread runs a session's threads.
    At most the cores of the machine it was measured on."""
    per = (
        point["workers"] * point["threads"]
        if point["mode"] != "inprocess"
        else point["concurrency"] * point["threads"]
    )
    return max(1, min(per, os.cpu_count() or 1))
