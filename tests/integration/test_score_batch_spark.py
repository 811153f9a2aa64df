# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""score-batch --engine spark: real PySpark in local[2] and on a real standalone cluster on
127.0.0.1 (a master and two workers from pyspark's launcher), compared row for row with the
local engine; a Python worker killed with -9 mid-job is retried by Spark with exact output.

Few tests on purpose: a JVM starts slowly on a loaded 2-core machine. The local[2] runs share
this process's JVM (the CLI runs in-process); the cluster is one per session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.test_score_batch import _csv_with_bad_rows, forest, make_table, ok, write  # noqa: F401
from tests.spark_helpers import DRIVER_CONF, spark_cluster, spark_env, spark_home  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spark_conf(*settings: str) -> list[str]:
    return [arg for setting in (*DRIVER_CONF, *settings) for arg in ("--spark-conf", setting)]


def by_id(table: pa.Table) -> pa.Table:
    return table.sort_by("id")


def local_reference(cli, data: Path, out: Path, *extra: str) -> pa.Table:
    ok(cli("score-batch", "forest", "-i", data, "-o", out, "--passthrough", "id", "--threads-per-worker", 1,
           *extra))  # fmt: skip
    return pq.read_table(out)


def test_local_mode_equals_the_local_engine_and_skips_bad_rows(cli, project, forest, spark_home, monkeypatch):
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    data = write(make_table(5000), project / "in.parquet")
    reference = local_reference(cli, data, project / "local.parquet")
    job = ok(cli("score-batch", "forest", "-i", data, "-o", project / "spark.parquet", "--engine", "spark",
                 "--master", "local[2]", "--passthrough", "id", "--batch-size", 700, *spark_conf(),
                 "--json"))  # fmt: skip
    details = job["details"]
    assert job["status"] == "completed" and details["engine"] == "spark"
    assert details["rows_read"] == details["rows_scored"] == 5000 and details["rows_failed"] == 0
    assert details["output"]["sha256"].startswith("sha256:")
    parts = sorted((project / "spark.parquet").glob("part-*.parquet"))
    assert parts and (project / "spark.parquet" / "_SUCCESS").exists()
    result = pq.read_table(project / "spark.parquet")
    assert result.column_names == reference.column_names
    assert by_id(result).equals(by_id(reference).cast(result.schema))
    events = [e for e in ok(cli("audit", "log", "--json")) if e["subject"] == job["id"]]
    assert [e["action"] for e in events] == ["score-batch", "score-batch.start"]

    # CSV with unparseable values, --on-error skip: the same rows skipped as locally. Saved with
    # ";" as spreadsheets in many locales do: both engines take the delimiter from the header.
    bad = _csv_with_bad_rows(project, 600, {3, 250, 599})
    bad.write_text(bad.read_text().replace(",", ";"))
    reference = local_reference(cli, bad, project / "local-skip.parquet", "--on-error", "skip")
    job = ok(cli("score-batch", "forest", "-i", bad, "-o", project / "skip.parquet", "--engine", "spark",
                 "--master", "local[2]", "--passthrough", "id", "--on-error", "skip", *spark_conf(),
                 "--json"))  # fmt: skip
    assert job["details"]["rows_failed"] == 3 and job["details"]["rows_scored"] == 597
    result = pq.read_table(project / "skip.parquet")
    assert result.column("id").type == pa.string()  # Spark reads CSV columns as text
    expected = by_id(reference).drop(["id"])
    got = result.set_column(0, "id", result.column("id").cast(pa.int64()))
    assert by_id(got).drop(["id"]).equals(expected.cast(by_id(got).drop(["id"]).schema))

    # A bad value with --on-error fail: one error line naming the row, the output left as it was.
    before = sorted(p.name for p in (project / "skip.parquet").iterdir())
    result = cli("score-batch", "forest", "-i", bad, "-o", project / "skip.parquet",
                 "--engine", "spark", "--master", "local[2]", *spark_conf())  # fmt: skip
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "partition" in errors[0] and "row" in errors[0], result.stderr[-2000:]
    assert sorted(p.name for p in (project / "skip.parquet").iterdir()) == before


def _python_workers(job: subprocess.Popen) -> list[int]:
    """pids of Python workers forked by a pyspark daemon (children of `pyspark.daemon`)."""
    daemons = set()
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if "pyspark.daemon" in cmdline:
            daemons.add((int(entry.name), ppid))
    daemon_pids = {pid for pid, _ in daemons}
    for pid, ppid in daemons:
        if ppid in daemon_pids:
            workers.append(pid)  # a forked worker runs the daemon's code: its parent is the daemon
    return workers


def test_standalone_cluster_survives_a_killed_python_worker(cli, project, forest, spark_home, spark_cluster):
    table = make_table(400_000)
    data = project / "in.parquet"
    pq.write_table(table, data, row_group_size=25_000)
    reference = local_reference(cli, data, project / "local.parquet")
    out = project / "spark.parquet"
    settings = spark_conf("spark.executor.memory=512m", "spark.sql.files.maxPartitionBytes=1m")
    args = [sys.executable, "-m", "mlops_cli", "score-batch", "forest", "-i", str(data), "-o", str(out),
            "--engine", "spark", "--master", spark_cluster.master, "--passthrough", "id",
            "--batch-size", "2000", *settings, "--json"]  # fmt: skip
    env = {**spark_env(spark_home), "MLOPS_STORE": str(project)}
    job = subprocess.Popen(
        args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and job.poll() is None:
        workers = _python_workers(job)
        if workers:
            time.sleep(1.0)  # let it get into its task
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
        time.sleep(0.2)
    stdout, stderr = job.communicate(timeout=600)
    assert killed is not None, f"no Python worker seen before the job ended: {stderr[-3000:]}"
    assert job.returncode == 0, stderr[-3000:]
    details = json.loads(stdout)["details"]
    assert details["rows_read"] == details["rows_scored"] == 400_000
    result = pq.read_table(out)
    assert by_id(result).equals(by_id(reference).cast(result.schema))
    # The model and the code really travelled: to executors of both workers' JVMs.
    shipped = [w for w in spark_cluster.work_dirs if list(w.glob("app-*/*/mlops_cli.zip"))]
    assert shipped, [list(w.rglob("*"))[:20] for w in spark_cluster.work_dirs]
    logs = [p.read_text(errors="replace") for w in spark_cluster.work_dirs for p in w.glob("app-*/*/stderr")]
    failures = [text for text in logs if "Python worker exited" in text or "crashed" in text]
    assert failures, "Spark logged no lost task: the kill did not hit a running task"


def test_spark_bad_environment_each_one_line(cli, project, forest, monkeypatch, tmp_path):
    data = write(make_table(10), project / "in.parquet")
    args = ["score-batch", "forest", "-i", data, "-o", project / "o.parquet", "--engine", "spark"]

    def one_line(result, code, needle):
        assert result.exit_code == code, (result.exit_code, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr

    one_line(cli(*args, "--master", "spark://127.0.0.1:1"), 4, "cannot reach the Spark master")
    one_line(cli(*args, "--master", "nonsense"), 2, "not a Spark master URL")
    one_line(cli(*args, "--spark-conf", "novalue"), 2, "KEY=VALUE")
    one_line(cli(*args, "--shard", "0/2"), 2, "--shard")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if pyspark were not installed
    one_line(cli(*args), 1, "pyspark")
    monkeypatch.delitem(sys.modules, "pyspark")
    monkeypatch.setenv("PATH", str(tmp_path))  # no java anywhere
    monkeypatch.delenv("JAVA_HOME", raising=False)
    one_line(cli(*args, "--master", "local[2]"), 4, "Java runtime")
    assert not (project / "o.parquet").exists()


def test_spark_submit_entry_point_on_the_cluster(cli, project, forest, store, spark_home, spark_cluster):
    """The documented spark-submit entry point, on a model bundle, gives the local engine's rows."""
    from mlops_cli.models.manage import show_version
    from mlops_cli.packaging.bundling import copy_bundle

    data = write(make_table(3000), project / "in.parquet")
    reference = local_reference(cli, data, project / "local.parquet")
    bundle = copy_bundle(store, show_version(store, "forest"), project / "bundle").root
    entry = subprocess.run([sys.executable, "-m", "mlops_cli.batch.engines.spark_submit", "--path"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    settings = (*DRIVER_CONF, "spark.executor.memory=512m", f"spark.pyspark.python={sys.executable}")
    conf = [arg for setting in settings for arg in ("--conf", setting)]
    done = subprocess.run(
        [str(spark_home / "bin" / "spark-submit"), "--master", spark_cluster.master, *conf, entry,
         "--model-dir", str(bundle), "-i", str(data), "-o", str(project / "submitted.parquet"),
         "--passthrough", "id"],
        capture_output=True, text=True, timeout=600, cwd=project, env=spark_env(spark_home),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["rows"] == summary["scored"] == 3000
    result = pq.read_table(project / "submitted.parquet")
    assert by_id(result).equals(by_id(reference).cast(result.schema))
