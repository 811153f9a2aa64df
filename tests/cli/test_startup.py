"""What a command pays at start-up (issues #19 and #24.5), guarded without timing anything:
which commands are built, which libraries are imported, what a no-op pipeline run touches."""

from __future__ import annotations

import os
import sqlite3
import time

import typer.main

from mlops_cli.cli import main
from tests.cli.test_startup_imports import imported_modules


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


def test_a_no_op_pipeline_run_is_recorded_without_importing_git_rich_or_futures(cli, project):
    """A no-op run writes its job and two events (issue #19) but imports no GitPython (git is
    asked through its command line), no rich (one summary line) and no concurrent.futures."""
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

    modules = imported_modules(["pipeline", "run"], project)
    for heavy in ("git", "rich", "concurrent.futures"):
        assert heavy not in modules, heavy
    assert "mlops_cli.store.jobs" in modules  # the check itself works: it recorded

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == events + 2
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2
    assert cli("audit", "verify").exit_code == 0
