"""`mlops score-batch`: correctness against a bare onnxruntime run, workers, shards, resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.onnx_helpers import FEATURES, direct_run, forest_onnx, logistic_onnx, register_onnx


@pytest.fixture
def forest(project, store) -> Path:
    path = forest_onnx(project)
    register_onnx(store, path, "forest")
    return path


def make_table(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns = {"id": np.arange(rows, dtype=np.int64)}
    columns.update({name: rng.normal(size=rows) for name in FEATURES})
    columns["note"] = np.array(["x"] * rows)
    return pa.table(columns)


def write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    elif path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    return path


def read(path: Path) -> pa.Table:
    if path.suffix == ".csv":
        return pacsv.read_csv(path)
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return pa.Table.from_pylist([json.loads(line) for line in path.read_text().splitlines()])


def features_of(table: pa.Table) -> np.ndarray:
    return np.column_stack([table.column(n).to_numpy() for n in FEATURES]).astype(np.float32)


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result.json if result.stdout.startswith(("{", "[")) else result


def one_line_error(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("source", "target"), [("csv", "parquet"), ("parquet", "csv"), ("jsonl", "jsonl")])
def test_outputs_equal_a_direct_onnxruntime_run(cli, project, forest, source, target):
    table = make_table(700)
    data = write(table, project / f"in.{source}")
    out = project / f"out.{target}"
    job = ok(
        cli(
            "score-batch",
            "forest",
            "-i",
            data,
            "-o",
            out,
            "--passthrough",
            "id",
            "--batch-size",
            128,
            "--json",
        )
    )
    assert job["status"] == "completed"
    details = job["details"]
    assert details["rows_read"] == details["rows_scored"] == 700 and details["rows_failed"] == 0
    assert details["chunks"] == 6
    assert details["inputs"][0]["sha256"].startswith("sha256:") and details["output"]["sha256"].startswith(
        "sha256:"
    )
    result = read(out)
    assert result.column_names == ["id", "prediction", "proba_0", "proba_1"]
    label, proba = direct_run(forest, features_of(table))
    assert result.column("id").to_pylist() == list(range(700))
    np.testing.assert_array_equal(result.column("prediction").to_numpy(), label)
    np.testing.assert_allclose(result.column("proba_1").to_numpy(), proba[:, 1], rtol=1e-6)
    # The job is in the audit log: its start and its end, with the counts.
    events = [e for e in ok(cli("audit", "log", "--json")) if e["subject"] == job["id"]]
    assert [e["action"] for e in events] == ["score-batch", "score-batch.start"]
    assert events[0]["details"]["rows_scored"] == 700
    by_model = ok(cli("audit", "log", "--model", job["model_ref"].split(":")[0], "--json"))
    assert {"score-batch", "score-batch.start"} <= {e["action"] for e in by_model}
    assert ok(cli("audit", "verify", "--json"))


def test_workers_keep_input_order_and_match_one_process(cli, project, forest):
    data = write(make_table(3000), project / "in.parquet")
    one = ok(
        cli("score-batch", "forest", "-i", data, "-o", project / "one.parquet", "--batch-size", 200,
            "--threads-per-worker", 1, "--json")
    )  # fmt: skip
    two = ok(
        cli(
            "score-batch", "forest", "-i", data, "-o", project / "two.parquet", "--batch-size", 200,
            "--workers", 2, "--threads-per-worker", 1, "--passthrough", "id", "--json",
        )
    )  # fmt: skip
    assert two["details"]["workers"] == 2
    assert read(project / "two.parquet").column("id").to_pylist() == list(range(3000))
    assert read(project / "two.parquet").drop(["id"]).equals(read(project / "one.parquet"))
    assert one["details"]["rows_scored"] == 3000


def test_inputs_from_folder_and_glob_in_sorted_order(cli, project, forest):
    folder = project / "parts"
    folder.mkdir()
    full = make_table(300)
    for i in range(3):
        write(full.slice(i * 100, 100), folder / f"part-{i}.csv")
    ok(cli("score-batch", "forest", "-i", folder, "-o", project / "a.csv", "--passthrough", "id", "--json"))
    ok(
        cli(
            "score-batch",
            "forest",
            "-i",
            str(folder / "part-*.csv"),
            "-o",
            project / "b.csv",
            "--passthrough",
            "id",
            "--json",
        )
    )
    assert read(project / "a.csv").column("id").to_pylist() == list(range(300))
    assert (project / "a.csv").read_bytes() == (project / "b.csv").read_bytes()


def test_output_folder_with_format(cli, project, forest):
    data = write(make_table(50), project / "in.csv")
    (project / "outdir").mkdir()
    job = ok(
        cli(
            "score-batch",
            "forest",
            "-i",
            data,
            "-o",
            project / "outdir",
            "--output-format",
            "jsonl",
            "--json",
        )
    )
    assert job["details"]["output"]["path"].endswith("outdir/scores.jsonl")


def test_shards_union_equals_the_whole(cli, project, forest):
    data = write(make_table(1000), project / "in.csv")
    ok(
        cli(
            "score-batch",
            "forest",
            "-i",
            data,
            "-o",
            project / "whole.parquet",
            "--passthrough",
            "id",
            "--batch-size",
            64,
        )
    )
    pieces = []
    for i in range(3):
        out = project / f"shard{i}.parquet"
        job = ok(
            cli(
                "score-batch", "forest", "-i", data, "-o", out, "--passthrough", "id",
                "--batch-size", 64, "--shard", f"{i}/3", "--json",
            )
        )  # fmt: skip
        assert job["details"]["shard"] == f"{i}/3"
        pieces.append(read(out))
    union = pa.concat_tables(pieces).sort_by("id")
    assert union.num_rows == 1000
    assert union.equals(read(project / "whole.parquet"))
    # A shard with no chunks still writes a file with the right columns.
    empty = ok(
        cli(
            "score-batch",
            "forest",
            "-i",
            data,
            "-o",
            project / "e.csv",
            "--shard",
            "5/8",
            "--batch-size",
            500,
            "--json",
        )
    )
    assert empty["details"]["rows_read"] == 0
    assert read(project / "e.csv").column_names == ["prediction", "proba_0", "proba_1"]


def signal_after_parts(project: Path, args: list[str], out: Path, sig: int, parts: int = 5):
    """Run `mlops score-batch` in a real process; send it `sig` once `parts` chunks are checkpointed.

    Returns the process (finished) and its stderr.
    """
    env = {**os.environ, "MLOPS_STORE": str(project)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", *args, "-o", str(out)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    jobs_dir = project / ".mlops" / "jobs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(jobs_dir.glob("*/parts/*.scores.arrow"))) >= parts:
            break
        time.sleep(0.005)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    return proc, stderr


def test_resume_after_a_killed_run_gives_identical_bytes(cli, project, forest):
    data = write(make_table(60_000), project / "in.csv")
    args = ["score-batch", "forest", "-i", str(data), "--batch-size", "200", "--passthrough", "id"]
    ok(cli(*args, "-o", project / "reference.parquet"))

    out = project / "out.parquet"
    jobs_dir = project / ".mlops" / "jobs"
    proc, _ = signal_after_parts(project, args, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists()
    (job_dir,) = [p for p in jobs_dir.iterdir() if (p / "parts").is_dir() and any((p / "parts").iterdir())]
    done_before = len(list((job_dir / "parts").glob("*.scores.arrow")))
    assert 5 <= done_before < 300

    listed = ok(cli("score-batch", *args[1:], "-o", out, "--resume", "--json"))
    assert listed["id"] == job_dir.name
    assert listed["details"]["chunks_resumed"] >= 5 and listed["details"]["resumed"] == 1
    assert out.read_bytes() == (project / "reference.parquet").read_bytes()
    assert not job_dir.exists()  # completed: no parts, plan.json or lock stay behind
    assert list(jobs_dir.iterdir()) == []


def test_resume_after_the_input_changed_abandons_the_old_job(cli, project, forest, store):
    from mlops_cli.store import jobs

    data = write(make_table(60_000), project / "in.csv")
    args = ["score-batch", "forest", "-i", str(data), "--batch-size", "200"]
    out = project / "out.parquet"
    proc, _ = signal_after_parts(project, args, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    (old,) = jobs.list_jobs(store.conn, "score-batch")
    assert old.status == "running"  # a kill -9 cannot say otherwise
    assert (project / ".mlops" / "jobs" / old.id / "parts").is_dir()

    write(make_table(1_000, seed=7), data)  # the input changes
    new = ok(cli(*args, "-o", out, "--resume", "--json"))
    assert new["id"] != old.id and new["details"]["rows_read"] == 1_000
    abandoned = jobs.get_job(store.conn, old.id)
    assert abandoned.status == "abandoned" and "inputs" in abandoned.details["error"]
    assert list((project / ".mlops" / "jobs").iterdir()) == []
    refused = cli("score-batch", "--resume", old.id)
    one_line_error(refused, 2, "was abandoned")
    events = ok(cli("audit", "log", "--json"))
    assert any(e["subject"] == old.id and e["details"].get("status") == "abandoned" for e in events)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_of_encoded_parts_after_a_kill_gives_identical_bytes(cli, project, forest, fmt):
    data = write(make_table(60_000), project / "in.csv")
    args = ["score-batch", "forest", "-i", str(data), "--batch-size", "200", "--passthrough", "id,note"]
    reference = ok(cli(*args, "-o", project / f"reference.{fmt}", "--json"))

    out = project / f"out.{fmt}"
    proc, _ = signal_after_parts(project, args, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists()

    resumed = ok(cli("score-batch", *args[1:], "-o", out, "--resume", "--json"))
    assert resumed["details"]["chunks_resumed"] >= 5
    assert out.read_bytes() == (project / f"reference.{fmt}").read_bytes()
    assert resumed["details"]["output"]["sha256"] == reference["details"]["output"]["sha256"]
    assert resumed["details"]["output"]["rows"] == 60_000


def test_resume_by_job_id_after_interrupt(cli, project, forest, store):
    from mlops_cli.store import jobs

    data = write(make_table(2000), project / "in.jsonl")
    # A job that failed part-way (bad data fixed afterwards) resumes by its id.
    bad = make_table(2000).to_pylist()
    bad[1500]["f1"] = "oops"
    data.write_text("".join(json.dumps(r) + "\n" for r in bad))
    failed = cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", "--batch-size", 500)
    one_line_error(failed, 1, "in.jsonl: row 1501: column 'f1': 'oops' is a string, not a number")
    (job,) = jobs.list_jobs(store.conn, "score-batch")
    assert job.status == "failed"
    assert "row 1501" in job.details["error"]
    write(make_table(2000), data)  # fixed; mtime and size differ
    refused = cli("score-batch", "--resume", job.id)
    one_line_error(refused, 2, "inputs or options changed", "marked abandoned")
    assert jobs.get_job(store.conn, job.id).status == "abandoned"
    assert not (project / ".mlops" / "jobs" / job.id).exists()
    done = cli("score-batch", "--resume", "no-such-job")
    one_line_error(done, 1, "no job 'no-such-job'")


def test_skip_bad_rows_to_errors_output(cli, project, forest):
    rows = make_table(20).to_pylist()
    lines = ["id,f0,f1,f2,f3,note"]
    for row in rows:
        lines.append(",".join(str(row[c]) for c in ["id", *FEATURES, "note"]))
    lines[3] = "2,abc,1,1,1,x"  # text in a float column
    lines[6] = "5,NaN,1,1,1,x"  # NaN
    lines[9] = "8,,1,1,1,x"  # missing value
    data = project / "in.csv"
    data.write_text("\n".join(lines) + "\n")
    failed = cli("score-batch", "forest", "-i", data, "-o", project / "o.csv")
    one_line_error(failed, 1, "in.csv: row 3: column 'f0'")

    job = ok(
        cli(
            "score-batch", "forest", "-i", data, "-o", project / "o.csv", "--passthrough", "id",
            "--on-error", "skip", "--errors-output", project / "errors.csv", "--json",
        )
    )  # fmt: skip
    details = job["details"]
    assert (details["rows_read"], details["rows_scored"], details["rows_failed"]) == (20, 17, 3)
    assert read(project / "o.csv").column("id").to_pylist() == [i for i in range(20) if i not in (2, 5, 8)]
    errors = read(project / "errors.csv").to_pylist()
    assert [(e["file"], e["row"], e["id"]) for e in errors] == [
        ("in.csv", 3, 2),
        ("in.csv", 6, 5),
        ("in.csv", 9, 8),
    ]
    assert errors[0]["error"] == "column 'f0': 'abc' is not a number"
    assert errors[1]["error"] == "column 'f0': NaN"
    assert errors[2]["error"] == "column 'f0': missing value"


def test_bad_text_after_the_first_block_is_found(cli, project, forest):
    """pyarrow infers types from the first block; a later bad value still names its row."""
    table = make_table(5000)
    data = write(table, project / "in.csv")
    text = data.read_text().splitlines()
    text[4500] = text[4500].split(",", 1)[0] + ",oops," + text[4500].split(",", 2)[2]
    data.write_text("\n".join(text) + "\n")
    result = cli("score-batch", "forest", "-i", data, "-o", project / "o.parquet", "--batch-size", 1000)
    one_line_error(result, 1, "row 4500: column 'f0': 'oops' is not a number")
    in_worker = cli(
        "score-batch", "forest", "-i", data, "-o", project / "o.parquet", "--batch-size", 1000, "-w", 2
    )
    one_line_error(in_worker, 1, "row 4500: column 'f0': 'oops' is not a number", "pass --on-error skip")
    skipped = ok(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.parquet", "--on-error", "skip", "--json")
    )
    assert skipped["details"]["rows_failed"] == 1 and skipped["details"]["rows_scored"] == 4999


def test_missing_column(cli, project, forest):
    data = write(make_table(10).drop(["f2"]), project / "in.parquet")
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.csv"), 1, "missing column 'f2'"
    )


def test_features_option_maps_other_column_names(cli, project, store):
    path = logistic_onnx(project)
    register_onnx(store, path, "plain", features=None)
    table = make_table(30).rename_columns(["id", "a", "b", "c", "d", "note"])
    data = write(table, project / "in.csv")
    unnamed = cli("score-batch", "plain", "-i", data, "-o", project / "o.csv")
    one_line_error(unnamed, 2, "column names were not recorded", "--features")
    ok(cli("score-batch", "plain", "-i", data, "-o", project / "o.csv", "--features", "a,b,c,d"))
    label, _ = direct_run(path, np.column_stack([table.column(n).to_numpy() for n in "abcd"]))
    np.testing.assert_array_equal(read(project / "o.csv").column("prediction").to_numpy(), label)


def test_empty_file(cli, project, forest):
    (project / "empty.csv").write_text("")
    one_line_error(
        cli("score-batch", "forest", "-i", project / "empty.csv", "-o", project / "o.csv"), 1, "is empty"
    )
    (project / "header.csv").write_text("id,f0,f1,f2,f3\n")  # empty too: the same exit code
    one_line_error(
        cli("score-batch", "forest", "-i", project / "header.csv", "-o", project / "o.csv"), 1, "no rows"
    )


def test_files_with_different_schemas(cli, project, forest):
    write(make_table(10), project / "a.csv")
    write(make_table(10).drop(["note"]), project / "b.csv")
    result = cli(
        "score-batch", "forest", "-i", project / "a.csv", "-i", project / "b.csv", "-o", project / "o.csv"
    )
    one_line_error(result, 1, "different schemas", "b.csv lacks note")


def test_output_equal_to_input(cli, project, forest):
    data = write(make_table(10), project / "in.csv")
    one_line_error(cli("score-batch", "forest", "-i", data, "-o", data), 2, "is also an input")


def test_unwritable_output_folder(cli, project, forest):
    data = write(make_table(10), project / "in.csv")
    (project / "afile").write_text("")
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", project / "afile" / "o.csv"), 2, "cannot write"
    )
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", "/proc/mlops-test/o.csv"), 2, "cannot write"
    )


def test_model_that_is_not_onnx(cli, project, forest, model_file):
    ok(cli("register", model_file, "--name", "raw", "--framework", "sklearn", "--json"))
    data = write(make_table(10), project / "in.csv")
    line = one_line_error(cli("score-batch", "raw", "-i", data, "-o", project / "o.csv"), 2, "not ONNX")
    assert "mlops convert raw:1" in line


@pytest.mark.parametrize("shard", ["3/3", "1", "-1/2", "a/b", "0/0"])
def test_bad_shard(cli, project, forest, shard):
    data = write(make_table(10), project / "in.csv")
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", "--shard", shard), 2, "--shard"
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--workers", "1000"], "--workers 1000: more processes than this machine can use"),
        (["--threads-per-worker", "100000"], "--threads-per-worker 100000: more threads"),
    ],
)
def test_typos_that_would_fork_the_machine_are_refused(cli, project, forest, args, says):
    data = write(make_table(10), project / "in.csv")
    one_line_error(cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", *args), 2, says)
    assert not (project / "o.csv").exists()
    jobs = project / ".mlops" / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())


def test_missing_input_and_unknown_model(cli, project, forest):
    one_line_error(
        cli("score-batch", "forest", "-i", project / "nope.csv", "-o", project / "o.csv"), 1, "no such file"
    )
    data = write(make_table(10), project / "in.csv")
    one_line_error(
        cli("score-batch", "nope", "-i", data, "-o", project / "o.csv"), 1, "no model named 'nope'"
    )
    one_line_error(cli("score-batch", "forest"), 2, "give REF, --input and --output")
    # a path that exists but holds no table (a device) is not "no such file"
    one_line_error(
        cli("score-batch", "forest", "-i", "/dev/null", "-o", project / "o.csv"), 2, "not a regular file"
    )


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_sigterm_marks_the_job_interrupted_and_resume_by_id_finishes_it(
    cli, project, forest, store, sig, code, word
):
    from mlops_cli.store import jobs

    data = write(make_table(60_000), project / "in.parquet")
    args = ["score-batch", "forest", "-i", str(data), "--batch-size", "200", "--workers", "2"]
    ok(cli(*args, "-o", project / "reference.csv"))
    out = project / "out.csv"
    proc, stderr = signal_after_parts(project, args, out, sig)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == f"error: {word}"
    job = next(j for j in jobs.list_jobs(store.conn, "score-batch") if j.status != "completed")
    assert job.status == "interrupted" and job.details["error"] == word
    assert not out.exists()

    resumed = ok(cli("score-batch", "--resume", job.id, "--workers", 1, "--json"))
    assert resumed["id"] == job.id and resumed["status"] == "completed"
    assert resumed["details"]["chunks_resumed"] >= 5
    assert out.read_bytes() == (project / "reference.csv").read_bytes()


def test_text_feature_column_in_parquet_is_checked_row_by_row(cli, project, forest):
    table = make_table(6)
    texts = [str(v) for v in table.column("f0").to_pylist()]
    texts[4] = "n/a"
    table = table.set_column(1, "f0", pa.array(texts))
    data = write(table, project / "in.parquet")
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.csv"),
        1,
        "row 5: column 'f0': 'n/a' is not a number",
    )
    job = ok(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", "--on-error", "skip", "--json")
    )
    assert (job["details"]["rows_scored"], job["details"]["rows_failed"]) == (5, 1)
    label, _ = direct_run(forest, features_of(make_table(6)))
    assert read(project / "o.csv").column("prediction").to_pylist() == [
        int(v) for i, v in enumerate(label) if i != 4
    ]


def test_parquet_files_whose_types_differ(cli, project, forest):
    write(make_table(5), project / "a.parquet")
    other = make_table(5)
    write(other.set_column(0, "id", pa.array([str(i) for i in range(5)])), project / "b.parquet")
    result = cli("score-batch", "forest", "-i", str(project / "*.parquet"), "-o", project / "o.csv")
    one_line_error(result, 1, "different schemas", "column 'id'")


def test_string_labels_name_the_probability_columns_and_bom_header(cli, project, store):
    path = logistic_onnx(project, labels=["no", "yes"])
    register_onnx(store, path, "churn")
    table = make_table(40)
    data = project / "in.csv"
    pacsv.write_csv(table, data)
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())  # written by a spreadsheet
    ok(cli("score-batch", "churn", "-i", data, "-o", project / "o.jsonl", "--passthrough", "id"))
    rows = read(project / "o.jsonl").to_pylist()
    assert list(rows[0]) == ["id", "prediction", "proba_no", "proba_yes"]
    label, proba = direct_run(path, features_of(table))
    assert [r["prediction"] for r in rows] == list(label)
    np.testing.assert_allclose([r["proba_yes"] for r in rows], proba[:, 1], rtol=1e-6)


def test_option_mistakes(cli, project, forest):
    data = write(make_table(5), project / "in.csv")
    base = ["score-batch", "forest", "-i", data, "-o", project / "o.csv"]
    one_line_error(
        cli(*base, "--errors-output", project / "e.csv"), 2, "--errors-output needs --on-error skip"
    )
    clash = write(make_table(5).append_column("prediction", pa.array([1] * 5)), project / "clash.csv")
    clashing = cli(
        "score-batch", "forest", "-i", clash, "-o", project / "o.csv", "--passthrough", "id,prediction"
    )
    one_line_error(clashing, 2, "would clash")
    one_line_error(cli(*base, "--passthrough", "nope"), 2, "--passthrough column 'nope'")
    one_line_error(cli(*base, "--on-error", "ignore"), 2, "--on-error")
    one_line_error(cli(*base, "--workers", 0), 2, "--workers")
    one_line_error(
        cli("score-batch", "forest", "-i", data, "-o", project / "o.txt"), 2, "cannot tell the format"
    )


def test_csv_truncated_while_scored_is_a_clean_error(cli, project, forest, store):
    """A real run, its input truncated under it by another process: exit 1, one line, job failed."""
    from mlops_cli.batch.readers import CSV_SEGMENT
    from mlops_cli.store import jobs

    rows = (CSV_SEGMENT + (8 << 20)) // 100  # make_table's rows are about 100 bytes of CSV
    data = write(make_table(rows), project / "in.csv")
    size = data.stat().st_size
    assert size > CSV_SEGMENT
    args = ["score-batch", "forest", "-i", str(data), "--batch-size", "1000"]
    env = {**os.environ, "MLOPS_STORE": str(project)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", *args, "-o", str(project / "out.parquet")],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if list((project / ".mlops" / "jobs").glob("*/parts/*.scores.arrow")):
            break
        time.sleep(0.002)
    os.truncate(data, 1 << 20)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, (proc.returncode, stderr)  # not -SIGBUS, and not a silent success
    assert stderr.strip().splitlines() == [
        f"error: in.csv changed while it was being read: it is now {1 << 20} bytes, but had {size}"
        " when the run started (score a file that no other process is writing or truncating)"
    ]
    (job,) = jobs.list_jobs(store.conn, "score-batch")
    assert job.status == "failed" and "changed while it was being read" in job.details["error"]
    assert not (project / "out.parquet").exists()


def _csv_with_bad_rows(project: Path, rows: int, bad: set[int]) -> Path:
    table = make_table(rows).to_pylist()
    lines = ["id,f0,f1,f2,f3,note"]
    for i, row in enumerate(table):
        first = "abc" if i in bad else str(row["f0"])
        lines.append(",".join([str(row["id"]), first, *(str(row[c]) for c in FEATURES[1:]), "x"]))
    path = project / "in.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_skip_where_no_row_can_be_scored_fails(cli, project, forest, store):
    from mlops_cli.store import jobs

    data = _csv_with_bad_rows(project, 20, set(range(20)))
    result = cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", "--on-error", "skip")
    line = one_line_error(result, 5, "no row could be scored: 20 of 20 rows could not be scored")
    assert "no output was written" in line and "the first: in.csv: row 1: column 'f0': 'abc'" in line
    assert not (project / "o.csv").exists()
    (job,) = jobs.list_jobs(store.conn, "score-batch")
    assert job.status == "failed" and "no row could be scored" in job.details["error"]


def test_max_error_rate(cli, project, forest):
    data = _csv_with_bad_rows(project, 20, {2, 5, 8})  # 15 %
    base = ["score-batch", "forest", "-i", data, "-o", project / "o.csv", "--on-error", "skip"]
    over = cli(*base, "--max-error-rate", "0.1", "--errors-output", project / "e.csv", "--batch-size", 5)
    one_line_error(over, 5, "3 of 20 rows could not be scored (15.00%, more than --max-error-rate 0.1)")
    assert not (project / "o.csv").exists()
    assert read(project / "e.csv").column("row").to_pylist() == [3, 6, 9]  # says why, even so
    # The same run with a looser limit reuses the scored chunks.
    job = ok(cli(*base, "--max-error-rate", "0.15", "--errors-output", project / "e.csv",
                 "--batch-size", 5, "--resume", "--json"))  # fmt: skip
    assert job["status"] == "completed" and job["details"]["rows_failed"] == 3
    assert job["details"]["chunks_resumed"] == 4
    assert read(project / "o.csv").num_rows == 17
    one_line_error(cli(*base[:-2], "--max-error-rate", "0.5"), 2, "--max-error-rate needs --on-error skip")
    one_line_error(cli(*base, "--max-error-rate", "1.5"), 2, "between 0 and 1")


def test_models_rm_refuses_a_version_with_an_unfinished_job_and_names_it(cli, project, forest, store):
    from mlops_cli.store import jobs

    bad = make_table(600).to_pylist()
    bad[400]["f1"] = "oops"
    data = project / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in bad))
    failed = cli("score-batch", "forest", "-i", data, "-o", project / "o.csv", "--batch-size", 200)
    assert failed.exit_code == 1
    (job,) = jobs.list_jobs(store.conn, "score-batch")
    refused = cli("models", "rm", "forest:1")
    one_line_error(refused, 2, f"forest:1 has an unfinished score-batch job {job.id} (failed)", "--resume")
    assert cli("models", "show", "forest:1").exit_code == 0
    assert (project / ".mlops" / "jobs" / job.id).exists()  # its parts stay resumable
    write(make_table(600), data)  # the inputs changed: the resume abandons the job
    assert cli("score-batch", "--resume", job.id).exit_code == 2
    assert cli("models", "rm", "forest:1").exit_code == 0


def test_providers_are_chosen_reported_and_recorded_with_the_job(cli, project, forest):
    """--providers cuda,cpu scores on the first available (the CPU here, CUDA on a GPU machine),
    says so, and the job records what was asked for; an unknown name is exit 2."""
    import onnxruntime as ort

    rows = write(make_table(20), project / "rows.csv")
    result = cli(
        "score-batch", "forest", "--input", rows, "--output", project / "out.csv",
        "--providers", "cuda,cpu", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    usable = [p for p in wanted if p in ort.get_available_providers()]
    job = result.json
    assert job["details"]["rows_scored"] == 20 and job["details"]["providers"] == usable
    said = cli(
        "score-batch", "forest", "--input", rows, "--output", project / "o1.csv", "--providers", "cuda,cpu"
    )
    assert f"execution provider: {usable[0]}" in said.stderr
    refused = cli(
        "score-batch", "forest", "--input", rows, "--output", project / "o2.csv", "--providers", "x"
    )
    assert refused.exit_code == 2 and "unknown execution provider 'x'" in refused.stderr


@pytest.mark.parametrize(
    ("delimiter", "ending", "bom"),
    [(";", "\r\n", True), ("\t", "\n", False), ("|", "\n", False), (",", "\r\n", True)],
    ids=["semicolon-crlf-bom", "tab", "pipe", "comma-crlf-bom"],
)
def test_a_spreadsheets_csv_is_read_with_its_own_delimiter(cli, project, forest, delimiter, ending, bom):
    """CSV as spreadsheets in many locales save it (";", CRLF, a byte order mark) and tab- or
    pipe-separated exports: the header line tells the delimiter, and the scores are the same."""
    table = make_table(300)
    pacsv.write_csv(table, project / "plain.csv")
    lines = (project / "plain.csv").read_text().splitlines()
    text = ending.join(line.replace(",", delimiter) for line in lines) + ending
    data = project / "exported.csv"
    data.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    out = project / "out.parquet"
    job = ok(cli("score-batch", "forest", "-i", data, "-o", out, "--passthrough", "id", "--json"))
    assert job["details"]["rows_scored"] == 300
    result = pq.read_table(out)
    label, proba = direct_run(forest, features_of(table))
    assert result.column("id").to_pylist() == list(range(300))
    np.testing.assert_array_equal(result.column("prediction").to_numpy(), label)
    np.testing.assert_allclose(result.column("proba_1").to_numpy(), proba[:, 1], rtol=1e-6)


def test_a_decimal_comma_is_named_not_guessed(cli, project, forest):
    """`1,5` in a ";" file is a value mlops does not guess at: the row and column are named."""
    header = ";".join(FEATURES)
    (project / "comma.csv").write_text(f"{header}\n1,5;2;3;4\n")
    one_line_error(
        cli("score-batch", "forest", "-i", project / "comma.csv", "-o", project / "o.csv"), 1, "'1,5'"
    )
