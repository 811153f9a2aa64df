"""`mlops pipeline run/status`: cached steps, the lock file, parallel steps, failures, records.

Every step is a real shell command run by a real `/bin/sh`; the store is the test's own.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

PY = sys.executable


def write_pipeline(project: Path, text: str, params: str | None = "train:\n  lr: 0.1\n") -> Path:
    path = project / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    if params is not None:
        (project / "params.yaml").write_text(params)
    return path


CHAIN = """
steps:
  prepare:
    cmd: mkdir -p data && cp raw.csv data/clean.csv && echo prepare >> runs.log
    deps: [raw.csv]
    outs: [data]
  train:
    cmd: cat data/clean.csv > model.txt && echo train >> runs.log
    deps: [data/clean.csv]
    params: [train.lr]
    outs: [model.txt]
  other:
    cmd: echo other > other.txt && echo other >> runs.log
    outs: [other.txt]
"""


@pytest.fixture
def chain(project: Path) -> Path:
    (project / "raw.csv").write_text("a,b\n1,2\n")
    return write_pipeline(project, CHAIN)


def runs(project: Path) -> list[str]:
    path = project / "runs.log"
    return path.read_text().split() if path.exists() else []


def statuses(result) -> dict[str, str]:
    return {s["name"]: s["status"] for s in result.json["steps"]}


def test_first_run_runs_everything_then_nothing_and_the_lock_is_stable(cli, project, chain):
    first = cli("pipeline", "run", "--json")
    assert first.exit_code == 0, first.stderr
    assert statuses(first) == {"prepare": "ran", "train": "ran", "other": "ran"}
    lock = (project / "mlops.lock").read_bytes()
    assert b"schema: '1.0'" in lock and b"hash: sha256" in lock

    again = cli("pipeline", "run", "--json")
    assert again.exit_code == 0
    assert statuses(again) == {"prepare": "skipped", "train": "skipped", "other": "skipped"}
    assert sorted(runs(project)) == ["other", "prepare", "train"]
    assert (project / "mlops.lock").read_bytes() == lock  # deterministic: nothing changed, same bytes

    # Every run is a job with audit events naming the lock's digest, also a run with nothing
    # to do (issue #19): it says so (no_op) and names its job.
    assert first.json["job"] and not first.json["no_op"]
    assert again.json["no_op"] is True and again.json["job"] and again.json["job"] != first.json["job"]
    jobs = [r for r in _rows(project, "SELECT id, status, details FROM jobs WHERE kind = 'pipeline'")]
    assert sorted((r[0], r[1]) for r in jobs) == sorted(
        [(first.json["job"], "succeeded"), (again.json["job"], "succeeded")]
    )
    events = cli("audit", "log", "--action", "pipeline", "--json").json
    assert [e["subject"] for e in events] == [again.json["job"], first.json["job"]]  # newest first
    assert events[0]["details"]["lock"] == again.json["lock"] == first.json["lock"]
    assert again.json["lock"].startswith("sha256:")
    forced = cli("pipeline", "run", "--force", "other", "--json")  # forced: never a no-op
    assert forced.json["job"] and statuses(forced) == {"other": "ran"}


def _rows(project: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(project / ".mlops" / "mlops.db") as conn:
        return conn.execute(sql).fetchall()


def test_a_changed_dep_reruns_its_step_and_dependants_and_status_says_why(cli, project, chain):
    assert cli("pipeline", "run").exit_code == 0
    (project / "raw.csv").write_text("a,b\n3,4\n")
    status = cli("pipeline", "status", "--json")
    assert status.exit_code == 0
    steps = {s["name"]: s for s in status.json["steps"]}
    assert steps["prepare"]["status"] == "changed" and steps["prepare"]["reasons"] == ["dep raw.csv changed"]
    assert steps["train"]["reasons"] == ["upstream step prepare will run"]
    assert steps["other"]["status"] == "skipped"

    before = runs(project)
    result = cli("pipeline", "run", "--json")
    assert statuses(result) == {"prepare": "ran", "train": "ran", "other": "skipped"}
    assert runs(project)[len(before) :] == ["prepare", "train"]
    assert (project / "model.txt").read_text() == "a,b\n3,4\n"


def test_a_changed_param_or_cmd_reruns_the_step(cli, project, chain):
    assert cli("pipeline", "run").exit_code == 0
    (project / "params.yaml").write_text("train:\n  lr: 0.2\n")
    status = cli("pipeline", "status", "--json").json
    (train,) = [s for s in status["steps"] if s["name"] == "train"]
    assert train["reasons"] == ["param train.lr changed (0.1 -> 0.2)"]
    assert statuses(cli("pipeline", "run", "--json"))["train"] == "ran"
    lock = (project / "mlops.lock").read_text()
    assert "train.lr: 0.2" in lock

    write_pipeline(project, CHAIN.replace("echo other > other.txt", "echo OTHER > other.txt"), params=None)
    result = cli("pipeline", "run", "other", "--json")  # a step named: only it (and what it needs)
    assert [s["name"] for s in result.json["steps"]] == ["other"]
    assert result.json["steps"][0]["reasons"] == ["cmd changed"]


def test_force_dry_run_and_a_deleted_out_restored_from_the_store(cli, project, chain):
    assert cli("pipeline", "run").exit_code == 0
    count = len(runs(project))
    dry = cli("pipeline", "run", "--force", "--dry-run", "--json")
    assert dry.exit_code == 0 and set(statuses(dry).values()) == {"changed"}
    assert len(runs(project)) == count
    assert len(_rows(project, "SELECT id FROM jobs")) == 1  # a dry run records nothing

    (project / "model.txt").unlink()
    result = cli("pipeline", "run", "--json")
    assert statuses(result)["train"] == "restored"
    assert (project / "model.txt").read_text() == "a,b\n1,2\n"
    assert len(runs(project)) == count  # put back from the store, not re-run

    forced = cli("pipeline", "run", "--force", "other", "--json")
    assert statuses(forced) == {"other": "ran"}


def test_independent_steps_run_in_parallel_with_jobs(cli, project):
    # Each step waits (up to 20 s) for the other to have started: only a parallel run passes.
    wait = textwrap.dedent(
        """
        import pathlib, sys, time
        deadline = time.time() + 20
        while not pathlib.Path(sys.argv[1]).exists() and time.time() < deadline:
            time.sleep(0.02)
        sys.exit(0 if pathlib.Path(sys.argv[1]).exists() else 1)
        """
    )
    (project / "wait.py").write_text(wait)
    write_pipeline(
        project,
        f"""
        steps:
          a:
            cmd: touch a.started && {PY} wait.py b.started && echo a > a.out
            deps: [wait.py]
            outs: [a.out]
          b:
            cmd: touch b.started && {PY} wait.py a.started && echo b > b.out
            deps: [wait.py]
            outs: [b.out]
        """,
    )
    result = cli("pipeline", "run", "--jobs", "2", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert statuses(result) == {"a": "ran", "b": "ran"}


def test_a_failed_step_stops_its_dependants_keeps_the_others_and_shows_its_log_tail(cli, project, chain):
    write_pipeline(
        project, CHAIN.replace("cat data/clean.csv > model.txt", "echo boom-line >&2; exit 3"), params=None
    )
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"prepare": "ran", "train": "failed", "other": "ran"}
    (train,) = [s for s in result.json["steps"] if s["name"] == "train"]
    assert train["exit_code"] == 3 and "boom-line" in train["log_tail"]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: step 'train' failed: exit code 3")
    assert sum(line.startswith("error:") for line in lines) == 1
    lock = (project / "mlops.lock").read_text()
    assert "  prepare:" in lock and "  other:" in lock and "  train:" not in lock
    human = cli("pipeline", "run")
    assert "boom-line" in human.stderr  # the log tail, before the error line
    assert _rows(project, "SELECT status FROM jobs ORDER BY created_at")[-1] == ("failed",)


def test_a_dependant_of_a_failed_step_is_not_run(cli, project, chain):
    text = CHAIN.replace("mkdir -p data && cp raw.csv data/clean.csv", "exit 7")
    write_pipeline(project, text, params=None)
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"prepare": "failed", "train": "not-run", "other": "ran"}
    assert "1 dependent step not run" in result.stderr


# -- bad input: one error line naming the step, non-zero, lock unchanged ---------------------
BAD = {
    "cycle": (
        """
        steps:
          a: {cmd: cp b.txt a.txt, deps: [b.txt], outs: [a.txt]}
          b: {cmd: cp a.txt b.txt, deps: [a.txt], outs: [b.txt]}
        """,
        2,
        "step 'a' is in a cycle: a -> b -> a",
    ),
    "two-producers": (
        """
        steps:
          a: {cmd: echo > x.txt, outs: [x.txt]}
          b: {cmd: echo > x.txt, outs: [./x.txt]}
        """,
        2,
        "step 'b': out 'x.txt' is also produced by step 'a'",
    ),
    "missing-dep": (
        """
        steps:
          a: {cmd: cat nowhere.csv > a.txt, deps: [nowhere.csv], outs: [a.txt]}
        """,
        1,
        "step 'a': dep 'nowhere.csv' does not exist and no step makes it",
    ),
    "missing-param": (
        """
        steps:
          a: {cmd: echo > a.txt, params: [train.epochs], outs: [a.txt]}
        """,
        2,
        "step 'a': params key 'train.epochs' is not in params.yaml",
    ),
    "unknown-key": (
        """
        steps:
          a:
            cmd: echo > a.txt
            output: [a.txt]
        """,
        2,
        "pipeline.yaml:5: step 'a': unknown key 'output'",
    ),
    "not-a-list": (
        """
        steps:
          a:
            cmd: echo > a.txt
            deps: {x: 1}
        """,
        2,
        "pipeline.yaml:5: step 'a': `deps` must be a list of strings",
    ),
    "convert-option": (
        """
        steps:
          a:
            cmd: echo > a.txt
            outs: [a.txt]
            register: {name: m, from: a.txt}
            convert: {opset: 13, bogus: 1}
        """,
        2,
        "step 'a': unknown `convert` option bogus",
    ),
    "convert-without-register": (
        """
        steps:
          a:
            cmd: echo > a.txt
            outs: [a.txt]
            convert: {opset: 13}
        """,
        2,
        "pipeline.yaml:6: step 'a': `convert` needs `register`",
    ),
    "register-from-not-an-out": (
        """
        steps:
          a:
            cmd: echo > a.txt
            outs: [a.txt]
            register: {name: m, from: b.txt}
        """,
        2,
        "pipeline.yaml:6: step 'a': `register.from` must be one of the step's outs",
    ),
    "outside": (
        """
        steps:
          a:
            cmd: echo > a.txt
            outs: [../a.txt]
        """,
        2,
        "pipeline.yaml:5: step 'a': outs path '../a.txt' must be relative",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_pipelines_are_refused_with_one_line_naming_the_step(cli, project, case):
    text, code, expected = BAD[case]
    (project / "mlops.lock").write_text("schema: '1.0'\nsteps: {}\n")
    lock = (project / "mlops.lock").read_bytes()
    write_pipeline(project, text)
    result = cli("pipeline", "run")
    assert result.exit_code == code, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line, line
    assert (project / "mlops.lock").read_bytes() == lock
    assert _rows(project, "SELECT id FROM jobs") == []  # refused before anything ran


def test_invalid_yaml_names_its_line(cli, project):
    (project / "pipeline.yaml").write_text("steps:\n  a:\n    cmd: [unclosed\n")
    result = cli("pipeline", "status")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: pipeline.yaml:")


def test_a_step_that_deletes_its_declared_out_fails_and_is_not_locked(cli, project):
    (project / "keep.txt").write_text("x")
    write_pipeline(
        project,
        """
        steps:
          make:
            cmd: echo 1 > out.txt && rm out.txt
            outs: [out.txt]
          fine:
            cmd: cp keep.txt fine.txt
            deps: [keep.txt]
            outs: [fine.txt]
        """,
    )
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"make": "failed", "fine": "ran"}
    assert "error: step 'make' failed: out out.txt does not exist after the step ran" in result.stderr
    lock = (project / "mlops.lock").read_text()
    assert "fine:" in lock and "make:" not in lock


def test_a_dep_edited_while_its_step_runs_fails_the_step(cli, project):
    """DVC records the edited dep as the input (treeverse/dvc#11058); mlops refuses the result."""
    (project / "data.csv").write_text("v1\n")
    write_pipeline(
        project,
        """
        steps:
          train:
            cmd: cp data.csv model.txt && echo v2 >> data.csv
            deps: [data.csv]
            outs: [model.txt]
        """,
    )
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"train": "failed"}
    assert "dep data.csv changed while the step ran" in result.stderr
    assert not (project / "mlops.lock").exists()
    # Run again with the dep left alone: the new content is what the lock records.
    write_pipeline(
        project,
        "steps:\n  train:\n    cmd: cp data.csv model.txt\n    deps: [data.csv]\n    outs: [model.txt]\n",
    )
    assert cli("pipeline", "run").exit_code == 0
    assert "  train:" in (project / "mlops.lock").read_text()


def test_a_registered_model_leads_to_the_run_its_inputs_and_environment(cli, project):
    (project / "features.csv").write_text("x\n1\n")
    write_pipeline(
        project,
        """
        steps:
          train:
            cmd: mkdir -p model && cp features.csv model/weights.bin
            deps: [features.csv]
            params: [train.lr]
            outs: [model]
            register: {name: churn, from: model, tags: {stage: candidate}}
        """,
    )
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 0, result.stderr
    (train,) = result.json["steps"]
    assert train["registered"] == {"registered": "churn:1"}

    shown = cli("models", "show", "churn:1", "--json").json
    assert shown["tags"] == {"stage": "candidate"}
    assert shown["metadata"]["pipeline"]["job"] == result.json["job"]
    assert shown["metadata"]["environment"]["digest"] == result.json["environment"]["digest"]
    lineage = cli("audit", "lineage", "churn:1", "--json").json
    kinds = {n["kind"]: n for n in lineage["nodes"]}
    assert kinds["pipeline"]["id"] == f"job:{result.json['job']}"
    assert kinds["dataset"]["label"] == "features.csv"
    assert {
        "source": f"job:{result.json['job']}",
        "target": "version:churn:1",
        "relation": "produced",
    } in lineage["edges"]

    # The registered lock digest is the file's digest once the step was recorded.
    assert shown["metadata"]["pipeline"]["lock"] == result.json["lock"]


def test_outs_and_environment_blobs_survive_gc(cli, project, chain, monkeypatch):
    assert cli("pipeline", "run").exit_code == 0
    collected = cli("gc", "--grace", "0s", "--json")
    assert collected.exit_code == 0, collected.stderr
    assert collected.json["count"] == 0
    (project / "model.txt").unlink()
    again = cli("pipeline", "run", "--json")
    assert statuses(again)["train"] == "restored"


def test_status_of_a_never_run_pipeline_and_no_pipeline(cli, project, chain):
    result = cli("pipeline", "status", "--json")
    assert result.exit_code == 0
    assert set(statuses(result).values()) == {"changed"}
    assert all(s["reasons"] == ["never ran"] for s in result.json["steps"][:1])
    missing = cli("pipeline", "status", "nope.yaml")
    assert missing.exit_code == 1 and "nope.yaml: no such pipeline file" in missing.stderr
    unknown = cli("pipeline", "run", "nostep")
    assert unknown.exit_code == 2 and "no step 'nostep'" in unknown.stderr
    assert json.loads(cli("pipeline", "status", "--json").stdout)["dry_run"] is True


def _age_everything(project: Path) -> None:
    """Make every project file look written a while ago (out of the state cache's racy window)."""
    import os
    import time

    past = time.time() - 60
    for path in project.rglob("*"):
        if ".mlops" not in path.parts and path.is_file():
            os.utime(path, (past, past))


def test_a_no_op_run_reads_no_file(cli, project, chain):
    assert cli("pipeline", "run").exit_code == 0
    _age_everything(project)
    assert cli("pipeline", "status").exit_code == 0  # caches what the first run could not (fresh files)
    result = cli("pipeline", "run", "--json")
    assert set(statuses(result).values()) == {"skipped"}
    assert result.json["files_hashed"] == 0
    (project / "raw.csv").write_text("a,b\n9,9\n")
    assert cli("pipeline", "status", "--json").json["files_hashed"] == 1


def test_lineage_reaches_the_inputs_of_the_steps_before_the_registering_one(cli, project, chain):
    text = CHAIN.replace("cp raw.csv data/clean.csv", "tr , ';' < raw.csv > data/clean.csv")  # other bytes
    text = text.replace(
        "    outs: [model.txt]\n", "    outs: [model.txt]\n    register: {name: chained, from: model.txt}\n"
    )
    write_pipeline(project, text, params=None)
    result = cli("pipeline", "run", "--json")
    assert result.exit_code == 0, result.stderr
    lineage = cli("audit", "lineage", "chained:1", "--json").json
    run = f"job:{result.json['job']}"
    edges = {(e["source"], e["relation"]) for e in lineage["edges"] if e["target"] == run}
    labels = {n["id"]: n["label"] for n in lineage["nodes"]}
    assert {(labels[s], r) for s, r in edges} == {
        ("data/clean.csv", "input"),
        ("raw.csv", "input of prepare"),
    }


def test_the_run_is_recorded_with_the_pipelines_git_commit(cli, project, chain):
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", "pipeline.yaml", "params.yaml", "raw.csv")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "pipeline")
    assert cli("pipeline", "run").exit_code == 0
    (event,) = cli("audit", "log", "--action", "pipeline", "--json").json
    assert event["git"]["commit"] == git("rev-parse", "HEAD").strip()


def test_a_no_op_run_is_recorded_as_one_complete_job(cli, project, chain):
    """Issue #19: every run is recorded, the no-op one too: a succeeded job whose steps were all
    skipped, the same two events a normal run writes, the lock's digest and the environment."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", "pipeline.yaml", "params.yaml", "raw.csv")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "pipeline")
    first = cli("pipeline", "run", "--json").json
    noops = [cli("pipeline", "run", "--json") for _ in range(3)]
    for result in noops:
        assert result.exit_code == 0 and result.json["no_op"] is True
        assert result.json["environment"]["digest"] == first["environment"]["digest"]
    job = noops[-1].json["job"]
    (row,) = _rows(project, f"SELECT status, details FROM jobs WHERE id = '{job}'")
    details = json.loads(row[1])
    assert row[0] == "succeeded" and details["no_op"] is True
    assert details["lock"] == details["lock_before"] == first["lock"]
    assert details["environment"] == first["environment"]
    assert details["results"] == {s: {"status": "skipped", "outs": []} for s in ("prepare", "train", "other")}
    events = [e for e in cli("audit", "log", "--json").json if e["subject"] == job]
    assert [e["action"] for e in events] == ["pipeline", "pipeline.start"]
    head = git("rev-parse", "HEAD").strip()
    for event in events:
        assert event["details"]["no_op"] is True and event["git"]["commit"] == head
        assert event["git"]["dirty"] is False and event["git"]["repo"] == str(project)
    assert events[0]["details"]["lock"] == first["lock"] and events[0]["details"]["status"] == "succeeded"
    assert events[1]["details"]["environment"] == first["environment"]
    assert cli("audit", "verify").exit_code == 0
    human = cli("pipeline", "run")
    assert human.stdout.startswith("nothing to do: 3 steps up to date") and "(run pl-" in human.stdout


def test_a_no_op_run_interrupted_while_recording_leaves_no_half_job(cli, project, chain, monkeypatch):
    """The job row and its two events are one transaction: Ctrl-C between the two events rolls
    the whole record back, and the trail stays valid."""
    from mlops_cli.store import events as store_events

    assert cli("pipeline", "run").exit_code == 0
    before_jobs = _rows(project, "SELECT id FROM jobs")
    before_events = _rows(project, "SELECT count(*) FROM events")
    real = store_events.append_event

    def interrupted_at_the_second_event(conn, action, *args, **kwargs):
        if action == "pipeline":
            raise KeyboardInterrupt
        return real(conn, action, *args, **kwargs)

    monkeypatch.setattr("mlops_cli.store.jobs.append_event", interrupted_at_the_second_event)
    result = cli("pipeline", "run", "--json")
    assert result.exit_code != 0
    monkeypatch.setattr("mlops_cli.store.jobs.append_event", real)
    assert _rows(project, "SELECT id FROM jobs") == before_jobs
    assert _rows(project, "SELECT count(*) FROM events") == before_events
    assert cli("audit", "verify").exit_code == 0
    assert cli("pipeline", "run", "--json").json["job"]  # and the next no-op run is recorded
