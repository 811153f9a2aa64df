"""`push`/`pull` against a real S3 protocol server on 127.0.0.1 (moto's server mode)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.remote_helpers import ok, register_random
from tests.s3_helpers import MotoServer, moto_server  # noqa: F401
from tests.serving_helpers import make_project

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(moto_server) -> MotoServer:  # noqa: F811 - the imported fixture, requested
    """The session's S3-compatible server (tests/s3_helpers.py)."""
    return moto_server


@pytest.fixture
def url(s3, monkeypatch) -> str:
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return f"s3://{s3.new_bucket()}/registry"


@pytest.fixture
def other(tmp_path: Path) -> Path:
    return make_project(tmp_path / "other") / ".mlops"


def test_round_trip_conflict_and_renumber_on_s3(cli, project, url, other):
    mine = register_random(cli, project / "mine.bin", size=300_000)
    ok(cli("remote", "add", "team", url))
    pushed = ok(cli("push", "--all", "--json")).json
    assert [v["status"] for v in pushed["versions"]] == ["uploaded"] and pushed["blobs_uploaded"] == 1
    assert ok(cli("push", "--all", "--json")).json["up_to_date"] == 1

    ok(cli("remote", "add", "team", url, "--store", other))
    pulled = ok(cli("pull", "churn:1", "--json", "--store", other)).json
    assert [(v["ref"], v["digest"]) for v in pulled["versions"]] == [("churn:1", mine["digest"])]
    assert ok(cli("audit", "verify", "--json", "--store", other)).json["ok"]

    theirs = register_random(cli, project / "theirs.bin", store=other)  # churn:2 there
    conflict_store = make_project(project.parent / "third") / ".mlops"
    clash = register_random(cli, project / "clash.bin", store=conflict_store)  # churn:1, another digest
    ok(cli("remote", "add", "team", url, "--store", conflict_store))
    refused = cli("push", "churn:1", "--store", conflict_store)
    assert refused.exit_code == 6 and mine["digest"] in refused.stderr and clash["digest"] in refused.stderr
    ok(cli("push", "churn:2", "--store", other))
    renumbered = ok(cli("push", "churn:1", "--renumber", "--json", "--store", conflict_store)).json
    assert renumbered["versions"][0]["remote_ref"] == "churn:3"
    everything = ok(cli("pull", "--all", "--json")).json
    assert sorted((v["remote_ref"], v["digest"]) for v in everything["versions"]) == [
        ("churn:2", theirs["digest"]),
        ("churn:3", clash["digest"]),
    ]
    assert ok(cli("audit", "verify", "--json")).json["ok"]


def test_a_corrupt_blob_on_s3_is_refused(cli, project, url, other, s3):
    import boto3

    version = register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", url))
    ok(cli("push", "--all"))
    bucket = url.split("/")[2]
    hexdigest = version["files"][0]["digest"].split(":")[1]
    key = f"registry/blobs/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[7] ^= 0x01
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    ok(cli("remote", "add", "team", url, "--store", other))
    result = cli("pull", "--all", "--store", other)
    assert result.exit_code == 5 and "is corrupt" in result.stderr, result.stderr
    with sqlite3.connect(other / "mlops.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0


def test_missing_credentials_and_an_unreachable_endpoint(cli, project, url, monkeypatch, tmp_path):
    ok(cli("remote", "add", "team", url))
    register_random(cli, project / "m.bin")
    with monkeypatch.context() as env:
        env.delenv("AWS_ACCESS_KEY_ID")
        env.delenv("AWS_SECRET_ACCESS_KEY")
        env.setenv("HOME", str(tmp_path))  # no ~/.aws either
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        env.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        result = cli("push", "--all")
    assert result.exit_code == 4 and "no usable credentials" in result.stderr, result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    from tests.serving_helpers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    result = cli("pull", "--all")
    assert result.exit_code == 4 and "unreachable" in result.stderr, result.stderr
    assert ok(cli("audit", "verify", "--json")).json["ok"]


def test_a_bucket_that_does_not_exist_is_exit_1_as_in_score_batch(cli, project, s3, monkeypatch):
    """One storage layer, one exit code: the service answered that the bucket is not there."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", "s3://no-such-bucket-mlops/registry"))
    for argv in (["push", "--all"], ["pull", "--all"]):
        result = cli(*argv)
        assert result.exit_code == 1, result.stderr
        assert "'no-such-bucket-mlops'" in result.stderr and "does not exist" in result.stderr
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
