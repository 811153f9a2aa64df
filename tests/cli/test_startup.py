"""What a command pays at start-up (issues #19 and #24.5), guarded without timing anything:
which commands are built, which libraries are imported, what a no-op pipeline run touches."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import typer.main

from mlops_cli.cli import main


def test_a_command_builds_only_itself_from_the_typer_app(project, monkeypatch):
    """Typer's `app()` converts every command (signatures, annotations) before running one."""
    built: list[str] = []
    real = typer.main.get_command_from_info

    def spy(command_info, **options):
        built.append(command_info.callback.__name__)
        return real(command_info, **options)

    monkeypatch.setattr(typer.main, "get_command_from_info", spy)
    assert main(["init", "--json"]) == 0
    assert built == ["init"]
    built.clear()
    assert main(["audit", "head", "--json"]) == 0
    assert built == ["head"]  # not the other commands of the audit group either
    built.clear()
    assert main(["--help"]) == 0  # the root help lists every command and group: all are built
    assert {"init", "convert", "push", "pull"} <= set(built) and "run" not in built
    built.clear()
    assert main(["pipeline", "--help"]) == 0  # a group's help: its commands
    assert sorted(built) == ["run", "status"]


def _imports(args: list[str], cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlops_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime output"
    return [line.rsplit("|", 1)[1].strip() for line in lines]


def test_a_no_op_pipeline_run_records_nothing_and_imports_no_git_or_rich(cli, project):
    (project / "raw.txt").write_text("x\n")
    (project / "pipeline.yaml").write_text(
        "steps:\n  copy:\n    cmd: cp raw.txt out.txt\n    deps: [raw.txt]\n    outs: [out.txt]\n"
    )
    past = time.time() - 60  # out of the state cache's racy window
    os.utime(project / "raw.txt", (past, past))
    assert cli("pipeline", "run").exit_code == 0
    os.utime(project / "out.txt", (past, past))
    db = project / ".mlops" / "mlops.db"
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    head = (project / ".mlops" / "audit-head").read_text()

    modules = _imports(["pipeline", "run"], project)
    for heavy in ("git", "rich", "concurrent.futures", "mlops_cli.events.routing", "mlops_cli.audit"):
        assert heavy not in modules, heavy

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == events
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    assert (project / ".mlops" / "audit-head").read_text() == head
    # The check itself works: a run with work to do imports what recording needs.
    (project / "raw.txt").write_text("y\n")
    assert "mlops_cli.events.routing" in _imports(["pipeline", "run"], project)
