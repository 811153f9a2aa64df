"""`mlops audit export` and `mlops audit verify --file`, on a store built by the real commands."""

from __future__ import annotations

import csv
import json

import pytest


@pytest.fixture
def history(cli, model_file, project):
    data = project / "train.csv"
    data.write_text("x,y\n1,2\n")
    cli("register", model_file, "--name", "churn", "--dataset", data, "-m", "first")
    cli("models", "tag", "churn:1", "stage=prod", "-m", "")
    cli("models", "alias", "churn:1", "champion")
    cli("register", model_file, "--name", "fraud")
    cli("models", "rm", "fraud:1")
    return cli("audit", "log", "--json").json[::-1]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_re_verifies_from_the_file_alone(cli, history, tmp_path, fmt):
    out = tmp_path / f"audit.{fmt}"
    result = cli("audit", "export", "--format", fmt, "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["events"] == len(history) and result.json["last_hash"] == history[-1]["hash"]
    # No store at all: run from an empty folder with MLOPS_STORE pointing nowhere.
    verified = cli("audit", "verify", "--file", out, "--json", "--store", tmp_path / "nowhere")
    assert verified.exit_code == 0, verified.stderr
    assert verified.json["complete"] is True and verified.json["events"] == len(history)
    assert verified.json["last_hash"] == history[-1]["hash"]


def test_jsonl_rows_are_the_events(cli, history, tmp_path):
    out = tmp_path / "a.jsonl"
    cli("audit", "export", "--output", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == history


def test_stdout_csv_for_bi_tools(cli, history):
    result = cli("audit", "export", "--format", "csv")
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["action"] for r in rows] == [e["action"] for e in history]
    assert json.loads(rows[1]["details"])["digest"] == history[1]["details"]["digest"]


def test_an_edited_export_fails_verification(cli, history, tmp_path):
    out = tmp_path / "a.jsonl"
    cli("audit", "export", "--output", out)
    pristine = out.read_text().splitlines()
    lines = list(pristine)
    row = json.loads(lines[2])
    row["actor"] = "mallory"
    lines[2] = json.dumps(row)
    out.write_text("\n".join(lines) + "\n")
    result = cli("audit", "verify", "--file", out)
    assert result.exit_code == 5 and "event 3 (tag churn:1) was altered" in result.stderr
    del pristine[3]
    out.write_text("\n".join(pristine) + "\n")
    assert "event 4 is missing" in cli("audit", "verify", "--file", out).stderr


def test_partial_export_verifies_from_its_first_link(cli, history, tmp_path):
    out = tmp_path / "recent.csv"
    since = history[3]["ts"]
    cli("audit", "export", "--format", "csv", "--since", since, "--output", out)
    result = cli("audit", "verify", "--file", out, "--json")
    assert result.exit_code == 0
    assert result.json["complete"] is False and result.json["first_seq"] == history[3]["seq"]


def test_bad_export_arguments(cli, history, tmp_path):
    assert cli("audit", "export", "--format", "xml").exit_code == 2
    assert cli("audit", "export", "--format", "parquet").exit_code == 2
    assert cli("audit", "export", "--json").exit_code == 2
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    result = cli("audit", "verify", "--file", junk)
    assert result.exit_code == 2 and "not an mlops audit export" in result.stderr
    assert cli("audit", "verify", "--file", tmp_path / "missing.jsonl").exit_code == 2


@pytest.fixture
def huge_events(cli, project, model_file, store):
    """A gc that removed 2,000 blobs (a ~200 KB event) and a register with a 3 MB message."""
    import hashlib

    for number in range(2000):
        data = f"orphan {number}".encode()
        path = store.objects.path_for(f"sha256:{hashlib.sha256(data).hexdigest()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    gc = cli("gc", "--grace", "0", "--json")
    assert gc.exit_code == 0, gc.stderr
    assert gc.json["count"] == 2000
    message = "x" * (3 * 1024 * 1024)
    assert cli("register", model_file, "--name", "big", "-m", message).exit_code == 0
    return cli("audit", "log", "--json").json[0]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_multi_megabyte_events_export_and_verify_in_every_format(cli, huge_events, tmp_path, fmt):
    out = tmp_path / f"audit.{fmt}"
    assert cli("audit", "export", "--format", fmt, "--output", out).exit_code == 0
    if fmt != "parquet":  # parquet compresses the message
        assert out.stat().st_size > 3 * 1024 * 1024
    verified = cli("audit", "verify", "--file", out, "--json")
    assert verified.exit_code == 0, verified.stderr
    assert verified.json["complete"] is True and verified.json["last_hash"] == huge_events["hash"]
    import csv as csv_module

    assert csv_module.field_size_limit() == 128 * 1024  # the process-wide limit is put back
