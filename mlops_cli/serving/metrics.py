"""Prometheus metrics in the text exposition format, kept in plain dicts.

The request path runs on one event loop per worker, so counters need no locks there; the
collector's writer thread only touches its own counters (written, dropped), which are single
integer updates. With several worker processes, `metrics_share.py` makes one worker's /metrics
answer for all of them, through `snapshot()` and `render(others)`.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    """Cumulative buckets, a sum and a count, per label value."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, label: str, value: float) -> None:
        counts = self.counts.get(label)
        if counts is None:
            counts = self.counts[label] = [0] * (len(self.buckets) + 1)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[label] += value

    def snapshot(self) -> dict:
        return {"counts": self.counts, "sums": dict(self.sums)}

    def add(self, snapshot: dict) -> None:
        """Another worker's figures (same buckets) added into these."""
        for label, counts in snapshot["counts"].items():
            mine = self.counts.setdefault(label, [0] * (len(self.buckets) + 1))
            for i, count in enumerate(counts):
                mine[i] += count
        for label, total in snapshot["sums"].items():
            self.sums[label] += total

    def lines(self, metric: str, label_name: str | None) -> list[str]:
        out = []
        for label, counts in sorted(self.counts.items()):
            prefix = f'{label_name}="{label}",' if label_name else ""
            running = 0
            for bound, count in zip(self.buckets, counts, strict=False):
                running += count
                out.append(f'{metric}_bucket{{{prefix}le="{bound:g}"}} {running}')
            running += counts[-1]
            out.append(f'{metric}_bucket{{{prefix}le="+Inf"}} {running}')
            labels = f"{{{prefix[:-1]}}}" if prefix else ""
            out.append(f"{metric}_sum{labels} {self.sums[label]:.6f}")
            out.append(f"{metric}_count{labels} {running}")
        return out


class Metrics:
    """Everything /metrics reports for one worker process."""

    def __init__(self, model_name: str, model_version: str) -> None:
        self.model = f'model="{model_name}",version="{model_version}"'
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_sizes = Histogram(BATCH_BUCKETS)
        self.rows = 0
        self.collected = 0
        self.dropped = 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, status)] += 1
        self.latency.observe(endpoint, seconds)

    def snapshot(self) -> dict:
        """Every figure as plain JSON, for the sibling workers' /metrics."""
        return {
            "requests": [[endpoint, status, count] for (endpoint, status), count in self.requests.items()],
            "latency": self.latency.snapshot(),
            "batch_sizes": self.batch_sizes.snapshot(),
            "rows": self.rows,
            "collected": self.collected,
            "dropped": self.dropped,
        }

    def render(self, others: list[dict] | None = None) -> bytes:
        """The exposition text: these figures, plus other workers' snapshots when given."""
        if others:
            return self._with(others).render()
        lines = [
            "# HELP mlops_requests_total HTTP requests by endpoint and status code.",
            "# TYPE mlops_requests_total counter",
        ]
        for (endpoint, status), count in sorted(self.requests.items()):
            lines.append(f'mlops_requests_total{{endpoint="{endpoint}",status="{status}"}} {count}')
        lines += [
            "# HELP mlops_request_duration_seconds Time from request start to response sent.",
            "# TYPE mlops_request_duration_seconds histogram",
            *self.latency.lines("mlops_request_duration_seconds", "endpoint"),
            "# HELP mlops_rows_scored_total Rows passed through the model.",
            "# TYPE mlops_rows_scored_total counter",
            f"mlops_rows_scored_total{{{self.model}}} {self.rows}",
            "# HELP mlops_batch_size Rows per model call (one call per request without micro-batching).",
            "# TYPE mlops_batch_size histogram",
            *self.batch_sizes.lines("mlops_batch_size", None),
            "# HELP mlops_collected_records_total Requests queued for the collection files.",
            "# TYPE mlops_collected_records_total counter",
            f"mlops_collected_records_total {self.collected}",
            "# HELP mlops_dropped_records_total Requests not collected because the queue was full.",
            "# TYPE mlops_dropped_records_total counter",
            f"mlops_dropped_records_total {self.dropped}",
        ]
        return ("\n".join(lines) + "\n").encode()

    def _with(self, others: list[dict]) -> Metrics:
        """A copy holding these figures and the others' summed (made per scrape: the live
        counters are never touched outside the request path)."""
        total = Metrics.__new__(Metrics)
        total.model = self.model
        total.requests = defaultdict(int, self.requests)
        total.latency = Histogram(LATENCY_BUCKETS)
        total.batch_sizes = Histogram(BATCH_BUCKETS)
        total.rows, total.collected, total.dropped = self.rows, self.collected, self.dropped
        for snapshot in (self.snapshot(), *others):
            total.latency.add(snapshot["latency"])
            total.batch_sizes.add(snapshot["batch_sizes"])
        for other in others:
            for endpoint, status, count in other["requests"]:
                total.requests[(endpoint, int(status))] += count
            total.rows += other["rows"]
            total.collected += other["collected"]
            total.dropped += other["dropped"]
        return total
