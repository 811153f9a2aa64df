"""Reading Parquet from an S3-compatible server on 127.0.0.1 against the same file on disk, with
no scoring: what the storage layer itself costs (score-batch's S3 figure also carries the
scoring's CPU contention with the server on the same cores).

Readers, alternating in one process, median of R, wall and this process's CPU time (moto's CPU
printed apart: it runs on the same cores here, which a real S3 does not):
- disk: pyarrow's own reader on the path (what score-batch does for local files);
- storage layer: mlops_cli.storage.open_input (one ranged GET for the footer, then one streaming
  GET spooled to an unnamed local file by a thread while pyarrow reads what has arrived), the
  file object pyarrow reads with a 1 MB buffer, as batch/readers.py does;
- s3fs background: what open_input did before the spool (s3fs, 32 MB ranged GETs, the next one
  fetched in a thread: fsspec's "background" cache), kept for the comparison;
- pyarrow.fs (with --native): pyarrow's C++ S3 client (`pyarrow.fs.S3FileSystem`), each
  buffered read a ranged GET. Against moto it does not finish: moto copies the whole object for
  every ranged GET, and 1 MB reads of a 171 MB object timed out (2026-12-06); hence off by default.

Usage: python benchmarks/bench_s3_read.py [--rows N] [--repeats R] [--native]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch_engines import start_moto  # noqa: E402
from bench_score_batch import make_data  # noqa: E402

BUFFER = 1 << 20


def read_all(source) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for batch in pq.ParquetFile(source, pre_buffer=False, buffer_size=BUFFER).iter_batches(65_536):
        rows += batch.num_rows
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--native", action="store_true", help="also pyarrow.fs's own S3 client")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-s3-read-"))
    _, parquet = make_data(work, args.rows, csv=False)
    moto, endpoint = start_moto(work)
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    try:
        import psutil
        import pyarrow.fs as pafs
        import s3fs

        from mlops_cli import storage

        # moto assembles a multipart upload in Python: on a loaded machine it can take minutes
        fs = s3fs.S3FileSystem(config_kwargs={"read_timeout": 900, "retries": {"max_attempts": 1}})
        fs.mkdir("bench")
        fs.put_file(str(parquet), "bench/data.parquet")
        native = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1")
        readers = {
            "disk": lambda: read_all(str(parquet)),
            "storage layer (spool)": lambda: _with(storage.open_input("s3://bench/data.parquet")),
            "s3fs background (before)": lambda: _with(
                fs.open("bench/data.parquet", "rb", block_size=storage.READ_BLOCK, cache_type="background")
            ),
        }
        if args.native:
            readers["pyarrow.fs"] = lambda: _with(native.open_input_file("bench/data.parquet"))
        server = psutil.Process(moto.pid)
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        served: dict[str, list[float]] = {}
        size = parquet.stat().st_size / 1e6
        load = os.getloadavg()[0]
        print(f"{args.rows:,} rows x 20 columns ({size:.0f} MB), median of {args.repeats}; load average"
              f" {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
        for _ in range(args.repeats):
            for name, read in readers.items():
                mine, theirs = time.process_time(), sum(server.cpu_times()[:2])
                start = time.perf_counter()
                assert read() == args.rows
                wall.setdefault(name, []).append(time.perf_counter() - start)
                cpu.setdefault(name, []).append(time.process_time() - mine)
                served.setdefault(name, []).append(sum(server.cpu_times()[:2]) - theirs)
        base = statistics.median(wall["disk"])
        print("\n| reader | median wall | vs disk | median CPU (reader) | median CPU (server) |")
        print("| --- | --- | --- | --- | --- |")
        for name in readers:
            value = statistics.median(wall[name])
            print(f"| {name} | {value:.2f} s | {value / base:.2f}x | {statistics.median(cpu[name]):.2f} s"
                  f" | {statistics.median(served[name]):.2f} s |")  # fmt: skip
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


def _with(handle) -> int:
    with handle:
        return read_all(handle)


if __name__ == "__main__":
    main()
