# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""score-batch --engine spark writing to object storage (moto on 127.0.0.1): Spark (local[2],
real PySpark) writes a staging folder in the store, which is published under the URL as a
prefix, `_SUCCESS` last; the parts equal the local engine's output, objects of an earlier run
are replaced, and a failed run leaves the earlier output and its marker as they were."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.test_score_batch import _csv_with_bad_rows, forest, make_table, ok, write  # noqa: F401
from tests.s3_helpers import moto_server, s3  # noqa: F401
from tests.spark_helpers import DRIVER_CONF, spark_home  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spark_args(*extra) -> list:
    conf = [arg for setting in DRIVER_CONF for arg in ("--spark-conf", setting)]
    return ["--engine", "spark", "--master", "local[2]", "--passthrough", "id", *conf, *extra]


def read_prefix(s3, keys: list[str], folder) -> pa.Table:
    return pa.concat_tables(pq.read_table(s3.get(key, folder / key.replace("/", "_"))) for key in keys)


def etags(s3, prefix: str) -> dict[str, str]:
    names = [key for key in s3.keys() if key.startswith(prefix)]  # noqa: SIM118 - the bucket's keys
    return {key: s3.fs.info(f"{s3.name}/{key}")["ETag"] for key in names}


def test_spark_output_to_s3_is_published_whole(cli, project, forest, spark_home, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    data = write(make_table(3000), project / "in.parquet")
    reference = project / "local.parquet"
    threads = ("--threads-per-worker", 1)  # the same float summation as one Spark task
    ok(cli("score-batch", "forest", "-i", data, "-o", reference, "--passthrough", "id", *threads))
    s3.fs.pipe_file(f"{s3.name}/out/part-00000-old.parquet", b"stale")  # an earlier run's objects
    s3.fs.pipe_file(f"{s3.name}/out/_SUCCESS", b"{}")

    job = ok(cli("score-batch", "forest", "-i", data, "-o", s3.url("out/"), *spark_args("--json")))
    output = job["details"]["output"]
    assert job["status"] == "completed" and output["path"] == s3.url("out") and output["rows"] == 3000
    keys = s3.keys()
    parts = [k for k in keys if k.startswith("out/part-")]
    assert parts and "out/part-00000-old.parquet" not in keys and "out/_SUCCESS" in keys
    assert all(k.endswith(".parquet") for k in parts) and not any("/." in k for k in keys)
    marker = json.loads(s3.fs.cat_file(f"{s3.name}/out/_SUCCESS"))
    assert sorted(o["path"] for o in marker["objects"]) == [s3.url(k) for k in parts]
    assert marker["job"] == job["id"]
    result = read_prefix(s3, parts, tmp_path)
    expected = pq.read_table(reference)
    assert result.sort_by("id").equals(expected.sort_by("id").cast(result.schema))
    assert not list((project / ".mlops" / "tmp").glob("spark-output-*"))  # the staging folder is gone

    # A bad value with --on-error fail: one error line, the earlier output and marker untouched.
    bad = _csv_with_bad_rows(project, 300, {7})
    before = etags(s3, "out/")
    result = cli("score-batch", "forest", "-i", bad, "-o", s3.url("out/"), *spark_args())
    assert result.exit_code == 1 and result.stderr.count("error:") == 1, result.stderr[-2000:]
    assert etags(s3, "out/") == before


def test_spark_output_to_a_missing_bucket_fails_before_spark(cli, project, forest, spark_home, s3):
    data = write(make_table(10), project / "in.parquet")
    result = cli("score-batch", "forest", "-i", data, "-o", "s3://no-such-bucket-mlops/out/", *spark_args())
    assert result.exit_code == 1 and "'no-such-bucket-mlops' does not exist" in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1
