"""One /metrics for several workers: each worker's file, the others' added, and a folder that a
temp cleaner removed or a disk that refuses writes never stopping the serving."""

from __future__ import annotations

import logging
import os
import shutil

from mlops_cli.serving.metrics import Metrics
from mlops_cli.serving.metrics_share import SharedMetrics


def worker(folder, pid: int, requests: int) -> SharedMetrics:
    metrics = Metrics("m", "1")
    for _ in range(requests):
        metrics.request("infer", 200, 0.002)
        metrics.batch_sizes.observe("", 4)
    metrics.rows += 4 * requests
    shared = SharedMetrics(str(folder), metrics)
    shared.own = folder / f"{pid}.json"
    return shared


def test_a_scrape_adds_the_other_workers_last_figures(tmp_path):
    first, second = worker(tmp_path, 1, 3), worker(tmp_path, 2, 5)
    second.write()
    text = first.render().decode()
    assert 'mlops_requests_total{endpoint="infer",status="200"} 8' in text
    assert 'mlops_request_duration_seconds_count{endpoint="infer"} 8' in text
    assert 'mlops_rows_scored_total{model="m",version="1"} 32' in text
    assert "mlops_batch_size_count 8" in text
    assert (
        'mlops_requests_total{endpoint="infer",status="200"} 3' in first.metrics.render().decode()
    )  # untouched
    (tmp_path / "3.json").write_text('{"requests": [')  # half a file: skipped, not a failed scrape
    assert 'status="200"} 8' in first.render().decode()


def test_workers_with_the_same_pid_keep_their_own_files(tmp_path):
    """Containers of one docker deployment each number their processes from 1."""
    first, second = (
        SharedMetrics(str(tmp_path), Metrics("m", "1")),
        SharedMetrics(str(tmp_path), Metrics("m", "1")),
    )
    first.metrics.request("infer", 200, 0.001)
    second.metrics.request("infer", 200, 0.001)
    first.write()
    second.write()
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert 'mlops_requests_total{endpoint="infer",status="200"} 2' in first.render().decode()


def test_a_removed_folder_is_made_again_and_a_failing_disk_warns_once(tmp_path, caplog):
    folder = tmp_path / "shared"
    folder.mkdir()
    shared = worker(folder, os.getpid(), 1)
    shutil.rmtree(folder)
    shared.write()
    assert shared.own.exists() and folder.stat().st_mode & 0o777 == 0o700
    (tmp_path / "a-file").write_text("")
    broken = worker(tmp_path / "a-file" / "shared", 1, 1)
    with caplog.at_level(logging.WARNING, logger="mlops.serving"):
        for _ in range(3):
            broken.write()
    assert len([r for r in caplog.records if "could not share" in r.getMessage()]) == 1
