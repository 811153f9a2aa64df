"""Ctrl-C, SIGTERM and kill -9 during `mlops pipeline run`: real processes, real signals.

A finished step stays recorded; a step that was running is not; its processes (and their
children) are ended on SIGINT/SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops_cli.pids import pid_alive

SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "120"])  # a grandchild: must be ended too
with open(sys.argv[1] + ".pids", "w") as handle:
    handle.write(f"{os.getpid()} {child.pid}\\n")
time.sleep(120)
"""


@pytest.fixture
def slow_pipeline(project: Path) -> Path:
    (project / "sleeper.py").write_text(SLEEPER)
    py = sys.executable
    (project / "pipeline.yaml").write_text(
        textwrap.dedent(
            f"""
            steps:
              quick:
                cmd: echo q > quick.txt
                outs: [quick.txt]
              slow1:
                cmd: {py} sleeper.py slow1 && echo 1 > slow1.txt
                deps: [sleeper.py]
                outs: [slow1.txt]
              slow2:
                cmd: {py} sleeper.py slow2 && echo 2 > slow2.txt
                deps: [sleeper.py]
                outs: [slow2.txt]
              after:
                cmd: cat slow1.txt > after.txt
                deps: [slow1.txt]
                outs: [after.txt]
            """
        )
    )
    return project


def _start(project: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "pipeline", "run", "--jobs", "3"],
        cwd=project,
        env={**os.environ, "MLOPS_STORE": str(project)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_steps_run(project: Path, proc: subprocess.Popen) -> list[int]:
    """Wait for `quick` to be in the lock and both slow steps (and their children) to run."""
    deadline = time.monotonic() + 60
    lock = project / "mlops.lock"
    while time.monotonic() < deadline and proc.poll() is None:
        pid_files = [project / f"slow{i}.pids" for i in (1, 2)]
        if (
            lock.exists()
            and "quick:" in lock.read_text()
            and all(p.exists() and p.read_text() for p in pid_files)
        ):
            return [int(pid) for p in pid_files for pid in p.read_text().split()]
        time.sleep(0.02)
    raise AssertionError(f"the steps did not start: {proc.poll()} {proc.stderr and proc.stderr.read()}")


def _job_status(project: Path) -> str:
    with sqlite3.connect(project / ".mlops" / "mlops.db") as conn:
        return conn.execute("SELECT status FROM jobs WHERE kind = 'pipeline'").fetchone()[0]


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [(signal.SIGINT, 130, "error: interrupted"), (signal.SIGTERM, 143, "error: terminated")],
)
def test_a_signal_ends_every_step_process_and_keeps_only_finished_steps(slow_pipeline, sig, code, line):
    project = slow_pipeline
    proc = _start(project)
    pids = _wait_until_steps_run(project, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == line
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if pid_alive(p)], "step processes outlived the run"
    lock = (project / "mlops.lock").read_text()
    assert "quick:" in lock
    assert "slow1:" not in lock and "slow2:" not in lock and "after:" not in lock
    assert _job_status(project) == "interrupted"


def test_kill_9_leaves_the_lock_of_finished_steps_and_the_next_run_resumes(slow_pipeline):
    """kill -9 cannot end the children (they run in their own sessions, as under `make`); the
    test ends them. Nothing unfinished is recorded, and the next run redoes only that."""
    project = slow_pipeline
    proc = _start(project)
    pids = _wait_until_steps_run(project, proc)
    lock_before = (project / "mlops.lock").read_text()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # Its steps run on, holding the run lock: a new run cannot race them on their outs.
    refused = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "pipeline", "run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "another `mlops pipeline run` of this pipeline" in refused.stderr
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert (project / "mlops.lock").read_text() == lock_before
    assert _job_status(project) == "running"  # what a kill -9 leaves: the run never finished

    (project / "sleeper.py").write_text("import sys\n")  # the slow steps are now quick
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "pipeline", "run", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import json

    steps = {s["name"]: s["status"] for s in json.loads(result.stdout)["steps"]}
    assert steps == {"quick": "skipped", "slow1": "ran", "slow2": "ran", "after": "ran"}


def test_a_second_run_of_the_same_pipeline_is_refused_while_one_runs(cli, slow_pipeline):
    project = slow_pipeline
    proc = _start(project)
    _wait_until_steps_run(project, proc)
    lock = (project / "mlops.lock").read_text()
    second = cli("pipeline", "run")
    assert second.exit_code == 1
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(
        "error: another `mlops pipeline run` of this pipeline is running"
        f" (pid {proc.pid}, or steps it started)"
    )
    assert (project / "mlops.lock").read_text() == lock
    assert cli("pipeline", "status").exit_code == 0  # reading is not refused
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143


def test_ctrl_c_while_deps_are_hashed_records_nothing_but_an_interrupted_run(project):
    """Interrupted before any step started: no lock, no step, the run recorded as interrupted."""
    with open(project / "big.bin", "wb") as handle:
        handle.truncate(1 << 30)  # sparse: costs no disk, takes a while to hash
    (project / "pipeline.yaml").write_text(
        "steps:\n  a:\n    cmd: cp big.bin a.bin\n    deps: [big.bin]\n    outs: [a.bin]\n"
    )
    proc = _start(project)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _job_status(project) == "running":
                break
        except (sqlite3.OperationalError, TypeError):  # no jobs row yet
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not (project / "mlops.lock").exists() and not (project / "a.bin").exists()
    assert _job_status(project) == "interrupted"


# The child runs the real CLI with one change: after the no-op run's first event (inside its
# transaction) it says so in a file and waits, so the signal lands between the two events.
PAUSED_NO_OP = """
import sys, time
from pathlib import Path
import mlops_cli.store.jobs as jobs
from mlops_cli.cli import exit_with, main

real = jobs.append_event

def paused(conn, action, *args, **kwargs):
    event = real(conn, action, *args, **kwargs)
    if action == "pipeline.start":
        Path("paused").write_text("in the transaction")
        time.sleep(60)
    return event

jobs.append_event = paused
exit_with(main(["pipeline", "run"]))
"""


def _no_op_ready(project: Path) -> None:
    (project / "raw.txt").write_text("x\n")
    (project / "pipeline.yaml").write_text(
        "steps:\n  copy:\n    cmd: cp raw.txt out.txt\n    deps: [raw.txt]\n    outs: [out.txt]\n"
    )
    done = subprocess.run([sys.executable, "-m", "mlops_cli", "pipeline", "run"], cwd=project, timeout=60)
    assert done.returncode == 0


def _table_counts(project: Path) -> tuple[int, int, list[tuple]]:
    with sqlite3.connect(project / ".mlops" / "mlops.db") as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        jobs = conn.execute("SELECT id, status FROM jobs ORDER BY id").fetchall()
        starts = conn.execute("SELECT count(*) FROM events WHERE action = 'pipeline.start'").fetchone()[0]
    return events, starts, jobs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "kill -9"])
def test_a_signal_while_a_no_op_run_is_recorded_leaves_no_job(cli, project, sig):
    """Between the job's two events: the transaction is rolled back (SIGINT) or never committed
    (kill -9); no job, no event, the trail valid; the next no-op run is recorded whole."""
    _no_op_ready(project)
    before = _table_counts(project)
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_NO_OP], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not (project / "paused").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (project / "paused").exists(), proc.communicate()
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    assert _table_counts(project) == before
    assert cli("audit", "verify").exit_code == 0
    again = cli("pipeline", "run", "--json")
    assert again.json["no_op"] and again.json["job"]
    events, starts, jobs = _table_counts(project)
    assert events == before[0] + 2 and starts == before[1] + 1 and len(jobs) == len(before[2]) + 1


def test_no_op_runs_killed_at_any_moment_leave_only_complete_jobs(cli, project):
    """SIGINT and kill -9 at moments spread over a no-op run's life: every job left is whole
    (succeeded, with its two events) and `audit verify` passes."""
    _no_op_ready(project)
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "mlops_cli", "pipeline", "run"], cwd=project, timeout=60, check=True
    )
    life = time.monotonic() - start
    for i in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlops_cli", "pipeline", "run"],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(life * (0.3 + 0.08 * i))  # from start-up to after the commit
        proc.send_signal(signal.SIGINT if i % 2 else signal.SIGKILL)
        proc.wait(timeout=60)
    events, starts, jobs = _table_counts(project)
    assert all(status == "succeeded" for _, status in jobs)
    with sqlite3.connect(project / ".mlops" / "mlops.db") as conn:
        for job_id, _ in jobs:
            actions = [r[0] for r in conn.execute("SELECT action FROM events WHERE subject = ?", (job_id,))]
            assert sorted(actions) == ["pipeline", "pipeline.start"], (job_id, actions)
    assert starts == len(jobs)
    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.stderr
