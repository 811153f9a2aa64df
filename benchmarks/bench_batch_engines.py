"""score-batch's engines side by side: Spark local[2] against the local engine, and the local
engine reading Parquet from an S3-compatible server on 127.0.0.1 against the same file on disk.

Data: N rows x 20 float features (default 5,000,000) in one Parquet file; the model is
bench_score_batch.py's (LogisticRegression or RandomForest 100x10), registered in a temp store.
Every case is its own process (start-up included: a JVM for Spark), timed wall-clock, the cases
alternating, median of R runs. The outputs are compared: Spark's part files read in order must
equal the local engine's output (predictions exactly, probabilities within 1e-6: the local
engine's session uses 2 threads, Spark's 1 per task, and tree sums depend on it).

Targets (issue #21): Spark local[2] within 2x the local engine; S3 within 1.3x of disk.

CPU time is each case's process tree's user+system seconds (the tree sampled every 0.1 s, each
process's last reading summed: Spark's JVM and Python workers are not reaped by the CLI, so
rusage would miss them), printed beside the wall time with the load average.
`--variant K=V` (repeatable) adds a "spark local[2] variant" case with those --spark-conf
settings, to try a tuning side by side before making it a default. `--before DIR` (an earlier
commit's package, `git archive COMMIT mlops_cli | tar -x -C DIR`) adds a "local (S3), before"
case run with that package, alternating with the others.

Usage: python benchmarks/bench_batch_engines.py [--rows N] [--repeats R] [--model forest|logreg]
                                               [--no-spark] [--no-s3] [--keep DIR] [--variant K=V]
                                               [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score_batch import ROOT, make_data, make_models, register  # noqa: E402


def run_timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of the command's whole process tree."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    seen: dict[int, float] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for process in tree:
            try:
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system
            except psutil.Error:
                pass
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.read().decode()}")
    return elapsed, sum(seen.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    log = open(work / "moto.log", "wb")  # noqa: SIM115 - open for the server's life
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def compare(local_out: Path, spark_out: Path) -> str:
    import numpy as np
    import pyarrow.parquet as pq

    local = pq.read_table(local_out)
    parts = sorted(spark_out.glob("part-*"))
    spark = (
        pq.read_table(parts[0])
        if len(parts) == 1
        else __import__("pyarrow").concat_tables([pq.read_table(p) for p in parts])
    )
    if local.num_rows != spark.num_rows:
        return f"DIFFERENT row counts: {local.num_rows} vs {spark.num_rows}"
    same_labels = np.array_equal(local.column("prediction").to_numpy(), spark.column("prediction").to_numpy())
    worst = max(
        float(np.max(np.abs(local.column(c).to_numpy() - spark.column(c).to_numpy())))
        for c in local.column_names
        if c.startswith("proba_")
    )
    return f"predictions {'identical' if same_labels else 'DIFFERENT'}, max |proba diff| {worst:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=("forest", "logreg"), default="forest")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--variant", action="append", default=[], metavar="K=V")
    parser.add_argument("--before", type=Path, default=None, help="an earlier package folder: S3 case")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-engines-"))
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    project.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_STORE": str(project), "SPARK_LOCAL_IP": "127.0.0.1"}
    _, parquet = make_data(work, args.rows, csv=False)
    models = make_models(work)
    if not (project / ".mlops").exists():
        register(project, env, {args.model: models[args.model]})
    mlops = [sys.executable, "-m", "mlops_cli", "score-batch", args.model]
    print(f"{args.rows:,} rows x 20 features, {args.model}, median of {args.repeats}; load average"
          f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start")  # fmt: skip

    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    moto = None
    try:
        if not args.no_s3:
            moto, endpoint = start_moto(work)
            env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                       AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
            import s3fs

            names = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
            os.environ.update({k: env[k] for k in names})
            # moto assembles a multipart upload in Python: on a loaded machine it can take minutes
            fs = s3fs.S3FileSystem(config_kwargs={"read_timeout": 900, "retries": {"max_attempts": 1}})
            fs.mkdir("bench")
            fs.put_file(str(parquet), "bench/data.parquet")
        cases = {"local (disk)": [*mlops, "-i", str(parquet), "-o", str(work / "local.parquet")]}
        if not args.no_s3:
            cases["local (S3)"] = [*mlops, "-i", "s3://bench/data.parquet", "-o", str(work / "s3.parquet")]
            if args.before:
                cases["local (S3), before"] = [*mlops, "-i", "s3://bench/data.parquet", "-o",
                                               str(work / "s3-before.parquet")]  # fmt: skip
        if not args.no_spark:
            cases["spark local[2]"] = [*mlops, "-i", str(parquet), "-o", str(work / "spark.parquet"),
                                       "--engine", "spark", "--master", "local[2]",
                                       "--spark-conf", "spark.driver.memory=2g"]  # fmt: skip
            if args.variant:
                conf = [arg for kv in args.variant for arg in ("--spark-conf", kv)]
                cases["spark local[2] variant"] = [*cases["spark local[2]"], *conf]
        for _ in range(args.repeats):
            for name, argv in cases.items():
                then = {**env, "PYTHONPATH": str(args.before.resolve())} if name.endswith("before") else env
                elapsed, used = run_timed(argv, project, then)
                times.setdefault(name, []).append(elapsed)
                cpu.setdefault(name, []).append(used)
                print(f"  {name}: {elapsed:.2f} s wall, {used:.1f} s CPU, load {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait()

    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["local (disk)"]
    print("\n| case | median wall | vs local (disk) | median CPU | target |\n| --- | --- | --- | --- | --- |")
    targets = {"local (S3)": 1.3, "spark local[2]": 2.0, "spark local[2] variant": 2.0}
    targets["local (S3), before"] = 1.3
    for name, value in medians.items():
        target = targets.get(name)
        verdict = "" if target is None else f"<= {target}x: {'met' if value / base <= target else 'NOT met'}"
        used = statistics.median(cpu[name])
        print(f"| {name} | {value:.2f} s | {value / base:.2f}x | {used:.1f} s | {verdict} |")
    if "spark local[2]" in medians:
        print(f"\nSpark vs local outputs: {compare(work / 'local.parquet', work / 'spark.parquet')}")
    if "local (S3)" in medians:
        import pyarrow.parquet as pq

        same = pq.read_table(work / "s3.parquet").equals(pq.read_table(work / "local.parquet"))
        print(f"S3 vs disk outputs: {'identical' if same else 'DIFFERENT'}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
