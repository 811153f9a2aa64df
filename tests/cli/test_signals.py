"""SIGTERM is Ctrl-C with another exit code, and what a kill -9 leaves is found and cleaned.

Real processes (`python -m mlops_cli`) receive real signals; the sizes are real files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _mlops(project: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLOPS_STORE": str(project)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _size(path: Path) -> int:
    """0 for a part renamed or removed between the listing and the stat (a small blob's)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _signal_once_a_part_exists(project: Path, proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    tmp = project / ".mlops" / "tmp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.endswith(".part") and _size(p) > 0 for p in tmp.iterdir()):
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the register finished before the signal could be sent"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


@pytest.fixture
def big_file(project: Path) -> Path:
    """1 GiB, sparse (so it costs no disk to create), which takes a while to hash and copy."""
    path = project / "big.bin"
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)
    return path


def test_sigterm_during_register_cleans_up_and_exits_143(cli, project, big_file):
    proc = _mlops(project, "register", str(big_file), "--name", "big")
    code, stderr = _signal_once_a_part_exists(project, proc, signal.SIGTERM)
    assert code == 143, stderr
    assert stderr.strip().splitlines()[-1] == "error: terminated"
    assert list((project / ".mlops" / "tmp").iterdir()) == []
    assert cli("models", "list", "--json").json == []
    assert cli("audit", "verify").exit_code == 0


def test_kill_9_leftovers_are_reported_with_their_size_and_removed(cli, project, big_file):
    proc = _mlops(project, "register", str(big_file), "--name", "big")
    code, _ = _signal_once_a_part_exists(project, proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    (part,) = (project / ".mlops" / "tmp").iterdir()
    size = part.stat().st_size
    assert size > 0

    listed = cli("models", "list", "--json")
    assert listed.exit_code == 0 and listed.json == []
    (line,) = listed.stderr.strip().splitlines()
    assert line.startswith("warning: removed 1 stale temp file (") and "interrupted command" in line
    from mlops_cli.cli.output import human_size

    assert human_size(size) in line
    assert not part.exists()
    # Once removed, nothing more is said.
    again = cli("models", "list")
    assert again.exit_code == 0 and again.stderr == ""


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_audit_verify_reports_stale_temp_data_in_json(cli, project):
    tmp = project / ".mlops" / "tmp"
    (tmp / f"{_dead_pid()}-0123abcd.part").write_bytes(b"x" * 5000)
    trash = tmp / f"{_dead_pid()}-trash-00ff"
    trash.mkdir()
    (trash / "blob").write_bytes(b"y" * 3000)
    live = tmp / f"{os.getpid()}-live.part"  # a writer that still runs: left alone
    live.write_bytes(b"z")

    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["stale_temp"] == {"files": 2, "bytes": 8000, "removed": True}
    assert "removed 2 stale temp files (8.0 kB)" in result.stderr
    assert sorted(p.name for p in tmp.iterdir()) == [live.name]
    assert cli("audit", "verify", "--json").json["stale_temp"] is None


def test_blobs_a_killed_rm_moved_to_its_trash_come_back_when_their_rows_survived(cli, project, model_file):
    """`rm` moves blobs to its trash inside its transaction; killed before the commit, the rows
    roll back while the blobs sit in a dead process's trash. Opening the store puts them back
    (and the sweep then removes only what no row names)."""
    assert cli("register", model_file, "--name", "churn").exit_code == 0
    digest = cli("models", "show", "churn:1", "--json").json["files"][0]["digest"]
    hexdigest = digest.split(":", 1)[1]
    blob = project / ".mlops" / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]
    trash = project / ".mlops" / "tmp" / f"{_dead_pid()}-trash-0a1b"
    trash.mkdir()
    os.replace(blob, trash / blob.name)  # where the killed rm left it
    (trash / ("0" * 62)).write_bytes(b"garbage nobody names")

    listed = cli("models", "list")
    assert listed.exit_code == 0, listed.stderr
    assert blob.exists() and not trash.exists()
    assert "removed 1 stale temp file" in listed.stderr  # the trash, with what no row names
    assert cli("audit", "verify").exit_code == 0
    assert cli("models", "download", "churn:1", "--output", project / "out").exit_code == 0
