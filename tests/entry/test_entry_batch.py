"""`mlops score-batch` of an Azure-form entry-script version: real scripts in real child
processes (this interpreter, or the version's own built environment), real files out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "entry-azure"

# Doubles column `x` with the weight its model file holds; reports what ran it.
SCALER = """
import json, os, sys, time
INITS = 0

def init():
    global INITS, weight
    INITS += 1
    time.sleep(float(os.environ.get("SCALER_INIT_SLEEP", "0")))
    with open(os.path.join(os.environ["MLOPS_MODEL_DIR"], "weight.txt")) as f:
        weight = float(f.read())
    print("init printed this, and it must not reach a frame")

def run(raw_data):
    rows = json.loads(raw_data)["data"]
    time.sleep(float(os.environ.get("SCALER_SLEEP", "0")))
    if any(row[0] < 0 for row in rows):
        raise ValueError("negative input")
    return {
        "scaled": [row[0] * weight for row in rows],
        "width": [len(row) for row in rows],
        "inits": [INITS] * len(rows),
        "pid": [os.getpid()] * len(rows),
        "python": [sys.executable] * len(rows),
    }
"""


def mlops_ok(cli, *args):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def register_scaler(
    cli, project: Path, name: str = "scaler", script: str = SCALER, requirements=None
) -> None:
    model = project / f"{name}-model"
    model.mkdir()
    (model / "weight.txt").write_text("2")
    (project / f"{name}.py").write_text(script)
    args = ["register", model, "--name", name, "--entry", project / f"{name}.py"]
    if requirements is not None:
        (project / f"{name}-requirements.txt").write_text(requirements)
        args += ["--requirements", project / f"{name}-requirements.txt"]
    mlops_ok(cli, *args)


def write_rows(path: Path, xs: list[float]) -> Path:
    table = pa.table({"id": list(range(len(xs))), "x": xs, "y": [10.0] * len(xs)})
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def test_the_example_score_py_scores_a_table_as_its_online_endpoint_answers(cli, project, monkeypatch):
    import runpy

    import joblib
    from sklearn.datasets import load_iris

    monkeypatch.setattr(sys, "argv", ["train.py", str(project / "model.joblib")])
    runpy.run_path(str(EXAMPLE / "train.py"), run_name="__main__")  # in this process: no second import
    mlops_ok(cli, "register", project / "model.joblib", "--name", "iris", "--entry", EXAMPLE / "score.py")
    x, _ = load_iris(return_X_y=True)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    table = pa.table({"id": list(range(len(x))), **{n: x[:, i] for i, n in enumerate(names)}})
    pq.write_table(table, project / "iris.parquet")
    args = ["score-batch", "iris", "-i", "iris.parquet", "--passthrough", "id", "--batch-size", "40"]
    one = mlops_ok(cli, *args, "-o", "one.parquet", "--env-manager", "local")
    assert one["status"] == "completed" and one["details"]["rows_scored"] == 150
    assert one["details"]["entry_script"] == {"script": "score.py", "columns": names, "python": None}
    scored = pq.read_table(project / "one.parquet")
    assert scored.column_names == ["id", "prediction"]
    expected = joblib.load(project / "model.joblib").predict(x).tolist()
    assert scored.column("prediction").to_pylist() == expected
    assert scored.column("id").to_pylist() == list(range(150))


def test_columns_from_a_dict_of_lists_features_and_init_once_per_worker(cli, project):
    register_scaler(cli, project)
    write_rows(project / "in.csv", [float(i) for i in range(100)])
    args = ["score-batch", "scaler", "-i", "in.csv", "--batch-size", "10", "--passthrough", "id"]
    mlops_ok(cli, *args, "-o", "out.csv", "--workers", "2")
    out = pacsv.read_csv(project / "out.csv")
    assert out.column_names == ["id", "scaled", "width", "inits", "pid", "python"]
    assert out.column("scaled").to_pylist() == [2.0 * i for i in range(100)]
    assert set(out.column("width").to_pylist()) == {2}  # x and y: every column but the passthrough
    assert set(out.column("inits").to_pylist()) == {1}  # init() ran once in each process
    assert len(set(out.column("pid").to_pylist())) == 2  # one script process per worker
    assert set(out.column("python").to_pylist()) == {sys.executable}  # no environment file
    mlops_ok(cli, *args, "-o", "y-first.csv", "--features", "y,x")
    assert pacsv.read_csv(project / "y-first.csv").column("scaled").to_pylist() == [20.0] * 100


def test_skip_finds_the_failing_rows_and_fail_names_the_batch(cli, project):
    register_scaler(cli, project)
    xs = [float(i) for i in range(64)]
    for bad in (3, 40, 41):
        xs[bad] = -1.0
    write_rows(project / "in.parquet", xs)
    args = ["score-batch", "scaler", "-i", "in.parquet", "--batch-size", "32", "--passthrough", "id"]
    job = mlops_ok(cli, *args, "-o", "out.parquet", "--on-error", "skip", "--errors-output", "bad.csv")
    assert job["details"]["rows_scored"] == 61 and job["details"]["rows_failed"] == 3
    errors = pacsv.read_csv(project / "bad.csv")
    assert errors.column("row").to_pylist() == [4, 41, 42]  # 1-based, the other rows were kept
    assert set(errors.column("error").to_pylist()) == {"run() raised ValueError: negative input"}
    out = pq.read_table(project / "out.parquet")
    assert out.column("id").to_pylist() == [i for i in range(64) if i not in (3, 40, 41)]

    result = cli(*args, "-o", "fail.parquet")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: in.parquet: rows 1-32: run() raised ValueError: negative input")
    assert not (project / "fail.parquet").exists()


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("def init():\n    raise RuntimeError('no model here')\ndef run(raw_data):\n    return []\n",
         "init() raised RuntimeError: no model here"),
        ("def init():\n    pass\ndef run(raw_data):\n    return [1]\n",
         "run() returned a list of 1 items for 2 rows"),
        ("import os\ndef init():\n    pass\ndef run(raw_data):\n    os._exit(3)\n",
         "its process ended (exit code 3) during run()"),
    ],
    ids=["init-raises", "wrong-length", "script-exits"],
)  # fmt: skip
def test_a_broken_script_fails_the_job_with_one_error_line(cli, project, script, needle):
    register_scaler(cli, project, "broken", script)
    write_rows(project / "in.csv", [1.0, 2.0])
    result = cli("score-batch", "broken", "-i", "in.csv", "-o", "out.csv", "--on-error", "skip")
    assert result.exit_code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr.split("error:")[-1]
    assert not (project / "out.csv").exists()


def _script_processes(project: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "mlops_cli.batch.script_child" in cmdline and str(project) in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.parametrize(
    ("sig", "workers", "moment"),
    [(signal.SIGKILL, "1", "parts"), (signal.SIGINT, "2", "parts"), (signal.SIGTERM, "2", "init")],
)
def test_a_killed_or_interrupted_run_resumes_to_the_same_bytes_and_leaves_no_script_process(
    cli, project, sig, workers, moment
):
    register_scaler(cli, project)
    write_rows(project / "in.csv", [float(i) for i in range(400)])
    args = [
        "score-batch",
        "scaler",
        "-i",
        "in.csv",
        "--batch-size",
        "10",
        "--passthrough",
        "id",
        "--features",
        "x",
    ]
    mlops_ok(cli, *args, "-o", "reference.csv")
    args += ["--workers", workers]
    slow = {"SCALER_SLEEP": "0.05"} if moment == "parts" else {"SCALER_INIT_SLEEP": "60"}
    env = {**os.environ, "MLOPS_STORE": str(project), **slow}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", *args, "-o", "out.csv"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if moment == "parts" and len(list((project / ".mlops" / "jobs").glob("*/parts/*.scores.arrow"))) >= 3:
            break
        if moment == "init" and len(_script_processes(project)) == int(workers):  # inside init()
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the signal"
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    deadline = time.monotonic() + 10
    while _script_processes(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _script_processes(project) == []
    assert not (project / "out.csv").exists()
    resumed = mlops_ok(cli, *args, "-o", "out.csv", "--resume")
    assert resumed["details"]["chunks_resumed"] >= (3 if moment == "parts" else 0)
    # the pid column differs between runs: compare what the rows mean
    keep = ["id", "scaled", "width", "inits"]
    assert pacsv.read_csv(project / "out.csv").select(keep) == pacsv.read_csv(
        project / "reference.csv"
    ).select(keep)


@pytest.mark.slow
def test_runs_in_the_versions_own_environment(cli, project):
    register_scaler(cli, project, requirements="six\n")
    write_rows(project / "in.csv", [1.0, 2.0, 3.0])
    job = mlops_ok(cli, "score-batch", "scaler", "-i", "in.csv", "-o", "out.jsonl", "--features", "x")
    python = job["details"]["entry_script"]["python"]
    assert python.startswith(str(project / ".mlops" / "envs"))
    rows = [json.loads(line) for line in (project / "out.jsonl").read_text().splitlines()]
    assert [r["scaled"] for r in rows] == [2.0, 4.0, 6.0] and {r["python"] for r in rows} == {python}


def test_profile_sweeps_workers_over_http_with_the_versions_recorded_sample(cli, project):
    write_rows(project / "sample.csv", [1.0, 2.0, 3.0])
    register_scaler(cli, project)
    result = cli("profile", "scaler", "--mode", "inprocess")
    assert result.exit_code == 2 and "profiled over HTTP" in result.stderr
    result = cli("profile", "scaler")
    assert result.exit_code == 2 and "pass --data PATH" in result.stderr
    mlops_ok(cli, "register", project / "scaler-model", "--name", "sampled", "--entry", project / "scaler.py",
             "--dataset", project / "sample.csv")  # fmt: skip
    short = ["--batch-sizes", "1,4", "--concurrency", "2", "--duration", "0.3", "--warmup", "0.05"]
    profile = mlops_ok(cli, "profile", "sampled", "--workers", "1,2", *short)
    assert profile["data"]["rows"] == 3 and "sample.csv" in profile["data"]["source"]
    points = profile["points"]
    assert {(p["mode"], p["workers"], p["batch_size"]) for p in points} == {
        ("http", w, b) for w in (1, 2) for b in (1, 4)
    }
    assert all(p["requests"] >= 5 and p["first_error"] is None for p in points)
    assert profile["recommendation"]["workers"] in (1, 2)
    stored = mlops_ok(cli, "models", "show", "sampled")
    assert stored["artifacts"][-1]["kind"] == "profile"


def test_a_hooks_version_is_batch_scored_as_its_plain_graph(cli, project):
    """The hooks shape JSON requests and answers of the server; a table's rows have neither, so
    score-batch runs the graph alone (a hook that raises proves it is never called)."""
    from tests.onnx_helpers import FEATURES, logistic_onnx, training_data

    graph = logistic_onnx(project)
    (project / "hooks.py").write_text("def preprocess(request):\n    raise RuntimeError('a hook ran')\n")
    mlops_ok(cli, "register", graph, "--name", "plain")
    mlops_ok(cli, "register", graph, "--name", "hooked", "--entry", project / "hooks.py")
    x, _ = training_data(50)
    pq.write_table(pa.table({name: x[:, i] for i, name in enumerate(FEATURES)}), project / "in.parquet")
    for name in ("plain", "hooked"):
        job = mlops_ok(
            cli,
            "score-batch",
            name,
            "-i",
            "in.parquet",
            "-o",
            f"{name}.csv",
            "--features",
            ",".join(FEATURES),
        )
        assert job["details"]["entry_script"] is None
    assert (project / "hooked.csv").read_bytes() == (project / "plain.csv").read_bytes()


def test_a_first_chunk_whose_rows_all_fail_does_not_type_the_output(cli, project):
    register_scaler(cli, project)
    write_rows(project / "in.csv", [-1.0, -2.0, 3.0, 4.0, 5.0])
    args = ["score-batch", "scaler", "-i", "in.csv", "--batch-size", "2", "--on-error", "skip"]
    job = mlops_ok(cli, *args, "-o", "out.parquet", "--features", "x", "--passthrough", "id")
    assert job["details"]["rows_failed"] == 2
    out = pq.read_table(project / "out.parquet")
    assert out.column("id").to_pylist() == [2, 3, 4] and out.column("scaled").to_pylist() == [6.0, 8.0, 10.0]


def test_option_mistakes_for_an_entry_script(cli, project):
    register_scaler(cli, project)
    write_rows(project / "in.csv", [1.0])
    base = ["score-batch", "scaler", "-i", "in.csv", "-o", "out.csv"]
    for args, code, needle in (
        (["--env-manager", "conda"], 2, "--env-manager 'conda': choose one of virtualenv, local"),
        (["--passthrough", "id,x,y"], 2, "every input column is a --passthrough column"),
        (["--features", "x,nope"], 1, "missing column 'nope'"),  # as for a graph: the data's fault
        (["--engine", "spark"], 2, "not an ONNX graph"),
    ):
        result = cli(*base, *args)
        assert result.exit_code == code, (args, result.stderr)
        assert result.stderr.count("error:") == 1 and needle in result.stderr, result.stderr
