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

    modules = imported_modules(["pipeline", "run"], project)
    heavy_modules = ("git", "rich", "concurrent.futures", "mlops_cli.events.routing", "mlops_cli.audit")
    for heavy in (*heavy_modules, "mlops_cli.domain", "mlops_cli.store.events"):
        assert heavy not in modules, heavy

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == events
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    assert (project / ".mlops" / "audit-head").read_text() == head
    # The check itself works: a run with work to do imports what recording needs.
    (project / "raw.txt").write_text("y\n")
    assert "mlops_cli.events.routing" in imported_modules(["pipeline", "run"], project)
