# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""score-batch --engine spark with object storage (moto on 127.0.0.1): Spark (local[2], real
PySpark) writes a staging folder in the store, which is published under the URL as a prefix,
`_SUCCESS` last; the parts equal the local engine's output, objects of an earlier run are
replaced, and a failed run leaves the earlier output and its marker as they were. Inputs on
S3 reach Spark as local copies in the same staging folder (no hadoop-aws here)."""

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
    assert not list((project / ".mlops" / "tmp").glob("spark-staging-*"))  # the staging folder is gone

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


def test_spark_reads_inputs_from_s3(cli, project, forest, spark_home, s3, tmp_path, monkeypatch):
    """A prefix of Parquet objects on S3, read by Spark through the staged copies: the same
    predictions as the local engine reading the same objects; the job records the objects (by
    URL and ETag), and the staged copies are gone afterwards."""
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    table = make_table(2000)
    for i, part in enumerate((table.slice(0, 1200), table.slice(1200))):
        s3.put(write(part, tmp_path / f"in-{i}.parquet"), f"inputs/in-{i}.parquet")
    reference = project / "local.parquet"
    threads = ("--threads-per-worker", 1)
    ok(
        cli(
            "score-batch", "forest", "-i", s3.url("inputs/"), "-o", reference, "--passthrough", "id", *threads
        )
    )

    out = project / "spark-out.parquet"
    job = ok(cli("score-batch", "forest", "-i", s3.url("inputs/"), "-o", out, *spark_args("--json")))
    assert job["details"]["rows_scored"] == 2000
    assert [i["path"] for i in job["details"]["inputs"]] == [
        s3.url("inputs/in-0.parquet"),
        s3.url("inputs/in-1.parquet"),
    ]
    assert all(i["version"] for i in job["details"]["inputs"])
    result = pq.read_table(out)
    expected = pq.read_table(reference)
    assert result.sort_by("id").equals(expected.sort_by("id").cast(result.schema))
    assert not list((project / ".mlops" / "tmp").glob("spark-staging-*"))


def test_s3a_is_used_when_the_spark_configuration_brings_it():
    """With hadoop-aws in the configuration, Spark reads the objects where they are (s3a://),
    which a cluster on other machines needs; without it, local copies."""
    from mlops_cli.batch.engines.spark import SparkOptions
    from mlops_cli.batch.engines.spark_job import s3a_configured

    assert not s3a_configured(SparkOptions("local[2]", (("spark.driver.memory", "2g"),)))
    packages = (("spark.jars.packages", "org.apache.hadoop:hadoop-aws:3.3.4"),)
    assert s3a_configured(SparkOptions("local[2]", packages))
    assert s3a_configured(SparkOptions(None, (("spark.hadoop.fs.s3a.endpoint", "http://127.0.0.1:9000"),)))
