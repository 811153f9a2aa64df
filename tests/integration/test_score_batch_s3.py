# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""score-batch with inputs and outputs on object storage: a real S3-compatible server (moto's
server mode on 127.0.0.1) reached through fsspec/s3fs, compared with the same run on local files."""

from __future__ import annotations

import signal

import pyarrow.parquet as pq
import pytest

from tests.cli.test_score_batch import (  # noqa: F401
    forest,
    make_table,
    ok,
    one_line_error,
    read,
    signal_after_parts,
    write,
)
from tests.s3_helpers import moto_server, s3, start_moto, use_endpoint  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("source", ["parquet", "csv", "jsonl"])
def test_s3_input_and_output_equal_the_local_run(cli, project, forest, s3, source):
    data = write(make_table(900), project / f"in.{source}")
    url = s3.put(data, f"inputs/in.{source}")
    local = ok(cli("score-batch", "forest", "-i", data, "-o", project / "local.parquet",
                   "--passthrough", "id", "--batch-size", 200, "--json"))  # fmt: skip
    remote = ok(cli("score-batch", "forest", "-i", url, "-o", s3.url("out/scores.parquet"),
                    "--passthrough", "id", "--batch-size", 200, "--json"))  # fmt: skip
    details = remote["details"]
    assert details["output"]["path"] == s3.url("out/scores.parquet")
    assert details["output"]["sha256"] == local["details"]["output"]["sha256"]
    assert details["inputs"][0]["path"] == url and details["inputs"][0]["version"]
    fetched = s3.get("out/scores.parquet", project / "fetched.parquet")
    assert pq.read_table(fetched).equals(read(project / "local.parquet"))
    assert details["output"]["size"] == fetched.stat().st_size


def test_prefix_input_and_folder_output(cli, project, forest, s3):
    full = make_table(300)
    for i in range(3):
        s3.put(write(full.slice(i * 100, 100), project / f"part-{i}.csv"), f"in/part-{i}.csv")
    job = ok(cli("score-batch", "forest", "-i", s3.url("in"), "-o", s3.url("out/"),
                 "--passthrough", "id", "--shard", "1/2", "--batch-size", 50, "--json"))  # fmt: skip
    assert job["details"]["output"]["path"] == s3.url("out/scores-1-of-2.parquet")
    assert [f["path"] for f in job["details"]["inputs"]] == [s3.url(f"in/part-{i}.csv") for i in range(3)]
    ids = pq.read_table(s3.get("out/scores-1-of-2.parquet", project / "o.parquet")).column("id").to_pylist()
    assert ids == [i for i in range(300) if (i // 50) % 2 == 1]


def test_failed_run_publishes_nothing(cli, project, forest, s3):
    table = make_table(500)
    data = project / "bad.csv"
    write(table, data)
    lines = data.read_text().splitlines()
    lines[400] = lines[400].replace(lines[400].split(",")[1], "oops", 1)
    data.write_text("\n".join(lines) + "\n")
    url = s3.put(data, "bad.csv")
    one_line_error(cli("score-batch", "forest", "-i", url, "-o", s3.url("out.parquet"), "--batch-size", 100),
                   1, "row 400")  # fmt: skip
    assert s3.keys() == ["bad.csv"]


def test_bucket_that_does_not_exist(cli, project, forest, s3):
    data = write(make_table(10), project / "in.parquet")
    one_line_error(cli("score-batch", "forest", "-i", data, "-o", "s3://no-such-bucket-mlops/out.parquet"),
                   1, "no-such-bucket-mlops", "does not exist")  # fmt: skip
    one_line_error(cli("score-batch", "forest", "-i", "s3://no-such-bucket-mlops/in.parquet",
                       "-o", project / "o.parquet"), 1, "no-such-bucket-mlops")  # fmt: skip
    one_line_error(cli("score-batch", "forest", "-i", s3.url("missing/*.parquet"),
                       "-o", project / "o.parquet"), 1, "no objects match")  # fmt: skip
    assert not (project / "o.parquet").exists()


def test_bad_credentials_and_unreachable_endpoint(cli, project, forest, tmp_path, monkeypatch):
    data = write(make_table(10), project / "in.parquet")
    strict = start_moto(tmp_path / "moto-auth.log", require_auth=True)
    try:
        use_endpoint(monkeypatch, strict.endpoint)
        one_line_error(cli("score-batch", "forest", "-i", data, "-o", "s3://any-bucket/out.parquet"),
                       4, "access denied")  # fmt: skip
    finally:
        strict.stop()
    use_endpoint(monkeypatch, strict.endpoint)  # nothing listens there any more
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    one_line_error(cli("score-batch", "forest", "-i", "s3://any-bucket/in.parquet",
                       "-o", project / "o.parquet"), 4, "Could not connect")  # fmt: skip


def test_unknown_scheme_and_missing_backend(cli, project, forest):
    data = write(make_table(10), project / "in.parquet")
    result = cli("score-batch", "forest", "-i", data, "-o", "ftp2://x/out.parquet")
    one_line_error(result, 2, "unknown storage")
    # file:// URLs are local paths
    output = f"file://{project}/o.parquet"
    job = ok(cli("score-batch", "forest", "-i", f"file://{data}", "-o", output, "--json"))
    assert job["details"]["output"]["path"] == str(project / "o.parquet")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_publishes_nothing_and_resume_gives_the_same_bytes(cli, project, forest, s3, sig):
    data = write(make_table(60_000), project / "in.csv")
    url = s3.put(data, "in.csv")
    args = ["score-batch", "forest", "-i", url, "--batch-size", "200", "--passthrough", "id"]
    reference = ok(cli(*args, "-o", project / "reference.parquet", "--json"))
    proc, _ = signal_after_parts(project, args, s3.url("out.parquet"), sig)
    assert proc.returncode in (-signal.SIGKILL, 143), "the run finished before the signal"
    assert s3.keys() == ["in.csv"]  # nothing published
    job = ok(cli(*args, "-o", s3.url("out.parquet"), "--resume", "--json"))
    assert job["details"]["chunks_resumed"] >= 5
    assert job["details"]["output"]["sha256"] == reference["details"]["output"]["sha256"]
    assert s3.keys() == ["in.csv", "out.parquet"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_read_leaves_no_spool_file(project, forest, s3, tmp_path, sig):
    """The input is spooled to an unnamed local file while it is read: nothing is left behind."""
    import os
    import subprocess
    import sys
    import time

    from mlops_cli.storage.spool import NEAR_END

    data = write(make_table(200_000), project / "in.csv")
    assert data.stat().st_size > NEAR_END  # streamed through the spool, not one ranged GET
    url = s3.put(data, "in.csv")
    spool_tmp = tmp_path / "tmp"
    spool_tmp.mkdir()
    env = {**os.environ, "MLOPS_STORE": str(project), "TMPDIR": str(spool_tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "score-batch", "forest", "-i", url, "-o", s3.url("out.parquet"),
         "--batch-size", "2000"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not seen:
        for fd in os.listdir(f"/proc/{proc.pid}/fd") if proc.poll() is None else []:
            try:
                target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
            except OSError:
                continue
            if "mlops-spool-" in target:
                seen.append(target)
        time.sleep(0.002)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert seen and all(target.endswith("(deleted)") for target in seen), "no spool seen in use"
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), stderr
    assert list(spool_tmp.iterdir()) == []
    assert s3.keys() == ["in.csv"]  # nothing published


@pytest.mark.parametrize("source", ["parquet", "csv"])
def test_input_replaced_after_listing_fails_the_run(cli, project, forest, s3, monkeypatch, source):
    """Reads carry the listed ETag (If-Match): another object under the name fails, exit 1."""
    from dataclasses import replace

    from mlops_cli import storage

    url = s3.put(write(make_table(900), project / f"in.{source}"), f"in.{source}")
    listed = storage.list_inputs

    def stale(pattern, suffixes):  # as if the object had been replaced since it was listed
        return [
            replace(found, version='"0123456789abcdef0123456789abcdef"')
            for found in listed(pattern, suffixes)
        ]

    monkeypatch.setattr(storage, "list_inputs", stale)
    result = cli("score-batch", "forest", "-i", url, "-o", s3.url("out.parquet"))
    one_line_error(result, 1, "changed while it was being read")
    assert s3.keys() == [f"in.{source}"]
