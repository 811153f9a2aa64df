"""Load through the runtime layer in this process: what `score-batch` and a library caller see.

`concurrency` threads each call `Predictor.run` back to back on the same feeds (onnxruntime
releases the GIL while it scores, so threads overlap as they would in a threaded server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from mlops_cli.errors import MlopsError
from mlops_cli.profile.loadgen import LoadResult


def run_calls(predictor: Any, feeds: Mapping[str, Any], concurrency: int, duration: float) -> LoadResult:
    """Call the model from `concurrency` threads for `duration` seconds; latencies per call."""
    result = LoadResult()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]
    errors: list[BaseException] = []

    def worker() -> None:
        clock = time.perf_counter
        mine: list[float] = []
        done: list[float] = []
        start.wait()
        try:
            while clock() < stop_at[0]:
                began = clock()
                predictor.run(feeds)
                now = clock()
                mine.append(now - began)
                done.append(now)
        except MlopsError as exc:  # the model failed to run: a finding, not a crash of the profiler
            errors.append(exc)
        with lock:
            result.latencies.extend(mine)
            result.finished.extend(done)
            result.ok += len(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = result.began = time.perf_counter()
    stop_at[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - began
    if errors:
        result.failed = len(errors)
        result.first_error = str(errors[0])
    return result
