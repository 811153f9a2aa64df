"""The profile's parts on their own: percentiles, rows from a signature, the load generator
against the real trivial server, and the process-tree monitor on real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from mlops_cli.errors import UsageError
from mlops_cli.profile import stats
from mlops_cli.profile.data import synthesise
from mlops_cli.profile.loadgen import EchoServer, measure_ceiling, request_bytes, run_load
from mlops_cli.profile.processes import TreeMonitor
from mlops_cli.runtime.mapping import schema_from_signature


def test_percentiles_match_numpy():
    rng = np.random.default_rng(3)
    values = sorted(rng.exponential(size=1001).tolist())
    for q in (50, 90, 95, 99):
        assert stats.percentile(values, q) == pytest.approx(np.percentile(values, q))
    summary = stats.latency_summary([0.001, 0.002, 0.003])
    assert summary["p50_ms"] == 2.0 and summary["max_ms"] == 3.0
    assert stats.latency_summary([])["p99_ms"] is None
    assert stats.spread([90, 100, 110]) == pytest.approx(0.2)
    assert stats.spread([5]) is None


def test_rows_synthesised_from_a_tensor_and_a_column_signature():
    tensor = schema_from_signature(
        {
            "inputs": [{"name": "X", "dtype": "float", "shape": [None, 3]}],
            "outputs": [],
            "feature_names": ["a", "b", "c"],
        }  # fmt: skip
    )
    data = synthesise(tensor, 10)
    assert data.feeds["X"].shape == (10, 3) and data.feeds["X"].dtype == np.float32
    big = data.batch(25)  # more rows than the data: cycled
    assert big["X"].shape == (25, 3)
    np.testing.assert_array_equal(big["X"][10], data.feeds["X"][0])
    body = json.loads(data.infer_body(2))
    assert body["inputs"][0]["shape"] == [2, 3] and body["inputs"][0]["datatype"] == "FP32"
    columns = schema_from_signature(
        {
            "inputs": [
                {"name": "city", "dtype": "string", "shape": [None, 1]},
                {"name": "n", "dtype": "int64", "shape": [None, 1]},
            ],
            "outputs": [],
        }  # fmt: skip
    )
    mixed = synthesise(columns, 4)
    assert mixed.feeds["city"].dtype == object and mixed.feeds["n"].dtype == np.int64
    assert json.loads(mixed.infer_body(4))["inputs"][0]["datatype"] == "BYTES"
    unknown = schema_from_signature({"inputs": [{"name": "X", "dtype": "float", "shape": [None, "n"]}]})
    with pytest.raises(UsageError, match="unknown size"):
        synthesise(unknown, 4)


def test_load_generator_against_the_trivial_server():
    server = EchoServer()
    try:
        payload = request_bytes("127.0.0.1", server.port, "/x", b"{}")
        closed = run_load("127.0.0.1", server.port, payload, 4, 0.3)
        assert closed.ok > 100 and closed.failed == 0 and len(closed.latencies) == closed.ok
        paced = run_load("127.0.0.1", server.port, payload, 2, 0.5, rate=100)
        assert 40 <= paced.ok <= 51 and paced.failed == 0  # 100 req/s for 0.5 s, never ahead
    finally:
        server.close()
    ceiling = measure_ceiling([1, 2], 0.2, 0.05)
    assert set(ceiling) == {1, 2} and all(v > 0 for v in ceiling.values())


def test_load_generator_counts_a_refused_connection_as_failed():
    from tests.serving_helpers import free_port

    port = free_port()
    result = run_load("127.0.0.1", port, request_bytes("127.0.0.1", port, "/", b""), 2, 0.1)
    assert result.ok == 0 and result.failed >= 2 and "connect" in result.first_error


def test_tree_monitor_sums_a_parent_and_its_children():
    child = "b = bytearray(40 << 20); import time; time.sleep(30)"
    code = (
        "import subprocess, sys, time\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', {child!r}]) for _ in range(2)]\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        monitor = TreeMonitor(parent.pid, interval=0.02)
        deadline = time.monotonic() + 20
        while monitor.peak_rss < 80 << 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = monitor.start_window()
        assert monitor.peak_rss >= 80 << 20  # two children holding 40 MiB each, summed
        assert monitor.cpu_seconds() >= before > 0
        monitor.close()
    finally:
        for child in __import__("psutil").Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def test_slice_rates_and_the_median_that_resists_a_stall():
    from mlops_cli.profile.loadgen import LoadResult
    from mlops_cli.profile.points import point_figures

    steady = LoadResult(began=0.0, elapsed=1.0, ok=500, finished=[(i + 0.5) / 500 for i in range(500)])
    assert steady.slice_rates(5) == pytest.approx([500.0] * 5)
    # 500 answers/s with a 0.2 s stall in the middle (another process took the core): the mean
    # drops by a fifth, the median of the five slices does not
    finished = [(i + 0.5) / 500 for i in range(200)] + [0.6 + (i + 0.5) / 500 for i in range(200)]
    run = LoadResult(began=0.0, elapsed=1.0, ok=400, latencies=[0.001] * 400, finished=finished)
    assert run.slice_rates(5) == pytest.approx([500, 500, 0, 500, 500])
    point = point_figures("http", 2, 1, 1, 1, None, [(run, 0.5)], 1 << 20)
    assert point["rows_per_s_whole_window"] == pytest.approx(800)
    assert point["rows_per_s"] == pytest.approx(1000)
    assert point["rows_per_cpu_s"] == pytest.approx(1600)


def test_p99_interval_brackets_the_p99_and_narrows_with_samples():
    import math
    import random

    from mlops_cli.profile import stats

    widths = []
    for n in (500, 5000, 50000):  # exponential latencies, as evenly spread quantiles
        values = [-math.log(1 - (i + 0.5) / n) for i in range(n)]
        low, high = stats.p99_interval(values)
        assert low <= stats.percentile(values, 99) <= high
        assert low <= -math.log(0.01) <= high  # the true p99 of the distribution
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert stats.p99_interval([]) is None
    assert stats.p99_interval([0.5]) == (0.5, 0.5)
    few = sorted(random.Random(0).expovariate(1.0) for _ in range(50))
    assert stats.p99_interval(few)[1] == few[-1]  # with few samples the bound is the maximum


def test_load_generator_modes_minimum_count_stop_event_and_body_check():
    """The one load generator's features for the deploy tests and benchmarks: a new connection
    per request (and only then), half and half, a minimum count past the window, a stop event,
    and a 200 whose body the check refuses counted as a failure."""
    import socketserver
    import threading

    from mlops_cli.profile.loadgen import BackgroundLoad, served_version

    connections = []
    answer = b'{"model_version":"7","outputs":[{"name":"y"}]}'

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            connections.append(1)
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    byte = self.rfile.read(1)
                    if not byte:
                        return
                    head += byte
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.rfile.read(length)
                close = b"connection: close" in head.lower()
                extra = b"connection: close\r\n" if close else b""
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(answer), extra, answer)
                )
                if close:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    payload = request_bytes("127.0.0.1", port, "/v2/models/m/infer", b"{}")
    try:
        fresh = run_load("127.0.0.1", port, payload, 2, 0.3, False, mode="fresh", label=served_version)
        assert fresh.ok > 5 and fresh.failed == 0 and fresh.labels == {"7": fresh.ok}
        assert len(connections) == fresh.ok  # one connection per request
        connections.clear()
        kept = run_load("127.0.0.1", port, payload, 2, 0.01, False, mode="keep-alive", min_requests=300)
        assert kept.ok >= 300 and len(connections) == 2  # past its window, on two connections
        connections.clear()
        both = BackgroundLoad("127.0.0.1", port, payload, 4, 200.0, mode="both", label=served_version).start()
        time.sleep(0.5)
        mixed = both.stop()
        assert mixed.failed == 0 and 2 < len(connections) < mixed.ok + 2  # two kept, two fresh
    finally:
        server.shutdown()
        server.server_close()
    echo = EchoServer()  # answers 200 without a model_version: not the inference JSON
    try:
        payload = request_bytes("127.0.0.1", echo.port, "/x", b"{}")
        checked = run_load("127.0.0.1", echo.port, payload, 1, 0.1, False, label=served_version)
    finally:
        echo.close()
    assert checked.ok == 0 and checked.failed > 0 and "not the inference JSON" in checked.first_error
