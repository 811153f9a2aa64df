"""The provider sweep's bookkeeping (profile/providers.py) with several providers, which this
CPU-only machine cannot measure for real: the points as the sweep would record them, no
provider objects (the real sweep over the providers installed here is in tests/cli/test_profile.py)."""

from __future__ import annotations

from mlops_cli.profile.providers import measure_each, per_provider, report
from mlops_cli.profile.request import ProfileRequest, plan

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def _point(index: int, provider: str, rows_per_s: float, cpu_used: float, p99_ms: float) -> dict:
    return {
        "index": index, "provider": provider, "mode": "http", "rows_per_s": rows_per_s,
        "p99_ms": p99_ms, "p99_ci_ms": None, "cpu_used": cpu_used, "peak_rss_bytes": 100 << 20,
        "success_rate": 1.0, "batch_size": 8, "threads": 1, "workers": 1, "concurrency": 1,
        "rows_per_cpu_s": rows_per_s / cpu_used,
    }  # fmt: skip


def test_each_provider_is_measured_alone_and_indexes_run_on():
    request = ProfileRequest(ref="m:1", providers=(CUDA, CPU))
    calls = []

    def measure(one: ProfileRequest, first: int) -> list[dict]:
        calls.append((one.providers, first))
        return [{"index": first}, {"index": first + 1}]

    points = measure_each(request, 3, measure)
    assert calls == [((CUDA,), 3), ((CPU,), 5)]
    assert [(p["index"], p["provider"]) for p in points] == [(3, CUDA), (4, CUDA), (5, CPU), (6, CPU)]
    assert plan(request).total == 2 * plan(ProfileRequest(ref="m:1")).total


def test_each_provider_gets_its_own_recommendation_or_its_reason():
    points = [_point(0, CUDA, 4000, 0.5, 2.0), _point(1, CPU, 1000, 0.9, 30.0)]
    request = ProfileRequest(ref="m:1", providers=(CUDA, CPU), target_p99_ms=10)
    skipped = [{"provider": "AzureExecutionProvider", "reason": "runs none of this model's nodes here"}]
    found = report(points, request, skipped, CUDA)
    assert found["measured"] == [CUDA, CPU] and found["skipped"] == skipped and found["recommended"] == CUDA
    cuda, cpu = found["per_provider"]
    assert cuda["recommendation"]["point"] == 0 and cuda["rows_per_s"] == 4000 and cuda["reason"] is None
    assert cpu["recommendation"] is None and "p99" in cpu["reason"]
    assert (
        per_provider(points, ProfileRequest(ref="m:1", providers=(CPU,)))[0]["recommendation"]["point"] == 1
    )
