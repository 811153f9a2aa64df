"""The recommendation as a pure function: memory bounds, CPU steps, and monotonic in the targets."""

from __future__ import annotations

import random

import pytest

from mlops_cli.profile.recommend import (
    MI,
    Measured,
    NoConfiguration,
    recommend,
    recommended_memory,
    required_cpu,
)


def point(index: int, rows: float, p99: float, cpu: float, rss: int = 200 * MI, **kw) -> Measured:
    fields = {"success_rate": 1.0, "batch_size": 1, "threads": 1, "workers": 1, "concurrency": 1}
    fields.update(kw)
    return Measured(rows, p99, cpu, rss, index=index, **fields)


@pytest.mark.parametrize("peak", [1, 5 * MI, 30 * MI, 77 * MI, 100 * MI, 143 * MI, 256 * MI, 3000 * MI])
@pytest.mark.parametrize("headroom", [0.0, 0.1, 0.25, 0.5])
def test_memory_is_within_peak_and_one_and_a_half_peak(peak, headroom):
    memory = recommended_memory(peak, headroom)
    assert peak <= memory <= 1.5 * peak + 1


def test_memory_rounds_up_to_64_mi_when_that_fits():
    assert recommended_memory(400 * MI, 0.25) == 512 * MI  # 500 Mi rounded up
    assert recommended_memory(143 * MI, 0.25) == 192 * MI  # 64 Mi multiple within [peak, 1.5 peak]
    assert recommended_memory(30 * MI, 0.25) == 38 * MI  # no 64 Mi multiple fits: 1 Mi steps


def test_random_peaks_stay_in_bounds():
    rng = random.Random(0)
    for _ in range(2000):
        peak = rng.randint(1, 8000 * MI)
        assert peak <= recommended_memory(peak, rng.choice([0.0, 0.2, 0.25, 0.5])) <= 1.5 * peak + 1


def test_cpu_is_in_quarter_steps_and_scales_with_the_target():
    p = point(0, rows=1000, p99=5, cpu=0.9)
    assert required_cpu(p, None) == 1.25  # 0.9 / 0.8 = 1.125 -> 1.25
    assert required_cpu(p, 500) == 0.75  # half the load: 0.5625 -> 0.75
    assert required_cpu(p, 1) == 0.25  # never below a quarter core
    for target in (1, 10, 100, 400, 800, 1000):
        cores = required_cpu(p, target)
        assert cores * 4 == int(cores * 4)


def test_the_smallest_qualifying_configuration_wins():
    points = [
        point(0, rows=5000, p99=2.0, cpu=1.0),
        point(1, rows=9000, p99=8.0, cpu=1.0, batch_size=64),
        point(2, rows=20000, p99=30.0, cpu=1.9, batch_size=512, workers=2, rss=400 * MI),
    ]
    rec = recommend(points, target_p99_ms=10, target_rps=4000)
    assert rec.point == 1  # meets both and needs the least CPU for 4,000 rows/s
    assert rec.cpu == 0.75 and rec.max_batch_size == 64 and rec.workers == 1
    assert 200 * MI <= rec.memory_bytes <= 300 * MI
    loose = recommend(points, target_p99_ms=50, target_rps=15000)
    assert loose.point == 2 and loose.workers == 2


def test_no_targets_take_the_most_efficient_configuration_with_the_cores_it_can_use():
    points = [
        point(0, rows=5000, p99=2.0, cpu=1.0, parallelism=1),
        point(1, rows=9000, p99=8.0, cpu=0.5, batch_size=64, parallelism=1),  # 18,000 rows per CPU-s
        point(2, rows=12000, p99=9.0, cpu=1.5, workers=2, parallelism=2),
    ]
    rec = recommend(points)
    assert rec.point == 1 and rec.cpu == 1.0 and rec.max_batch_size == 64
    assert "most efficient" in rec.cpu_basis


def test_impossible_targets_name_the_best_found():
    points = [point(0, rows=5000, p99=2.0, cpu=1.0), point(1, rows=9000, p99=8.0, cpu=1.0)]
    with pytest.raises(NoConfiguration) as raised:
        recommend(points, target_p99_ms=5, target_rps=8000)
    assert raised.value.best.index == 0  # the fastest point within the latency target
    assert "5 ms" in raised.value.reason and "8000" in raised.value.reason
    with pytest.raises(NoConfiguration) as raised:
        recommend(points, target_p99_ms=1)
    assert raised.value.best.index == 0  # none within the latency: the lowest p99


def test_failed_requests_disqualify_a_point():
    points = [point(0, rows=5000, p99=1.0, cpu=0.2, success_rate=0.99), point(1, rows=4000, p99=1.0, cpu=1.0)]
    assert recommend(points, target_p99_ms=5).point == 1


def _random_points(rng: random.Random) -> list[Measured]:
    return [
        point(
            i,
            rows=rng.uniform(100, 50000),
            p99=rng.uniform(0.1, 50),
            cpu=rng.uniform(0.05, 2.0),
            rss=rng.choice([80, 120, 200, 350]) * MI,
            workers=rng.choice([1, 2]),
            threads=rng.choice([1, 2]),
            batch_size=rng.choice([1, 8, 64, 512]),
            success_rate=rng.choice([1.0, 1.0, 1.0, 0.98]),
        )
        for i in range(rng.randint(1, 25))
    ]


def _resources(points, p99, rps):
    try:
        rec = recommend(points, p99, rps)
    except NoConfiguration:
        return None
    return rec.cpu, rec.memory_bytes


def test_stricter_targets_never_give_fewer_resources():
    """Property-style: for random point sets, tightening either target never lowers the CPU,
    and at equal CPU never lowers the memory; once impossible, stricter stays impossible."""
    rng = random.Random(12)
    for _ in range(400):
        points = _random_points(rng)
        p99 = rng.uniform(0.5, 60)
        rps = rng.uniform(50, 60000)
        base = _resources(points, p99, rps)
        for stricter in ((p99 * rng.uniform(0.2, 1), rps), (p99, rps * rng.uniform(1, 5)),
                         (p99 * rng.uniform(0.2, 1), rps * rng.uniform(1, 5))):  # fmt: skip
            tighter = _resources(points, *stricter)
            if base is None:
                assert tighter is None
            elif tighter is not None:
                assert tighter[0] >= base[0]
                if tighter[0] == base[0]:
                    assert tighter[1] >= base[1]
