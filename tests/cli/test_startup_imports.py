"""No command imports pydantic unless it needs it (issue #24.5): Typer's adapters pulled it into
every command's start-up (~60 ms); `cli/coercion.py` coerces the plain values without it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = [
    ("models", "list"),
    ("models", "list", "--json"),
    ("--json", "models", "list"),
    ("models", "show", "nothing"),  # an error path: exit 1
    ("models", "tag", "nothing:1", "team=x"),
    ("audit", "log", "--limit", "3"),
    ("audit", "verify", "--json"),
    ("audit", "head"),
    ("gc", "--dry-run", "--grace", "1h"),
    ("models", "list", "--help"),
    ("bundle", "verify", "no-such-bundle.tar.gz"),  # a Path argument given as text: exit 1
]


def imported_modules(args: list[str] | tuple[str, ...], cwd) -> list[str]:
    """The modules `mlops ARGS` imports (`python -X importtime`), in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlops_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    imported = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert imported, "no -X importtime output"  # the check itself works
    return [line.rsplit("|", 1)[1].strip() for line in imported]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_command_does_not_import_pydantic(project, args):
    assert not [name for name in imported_modules(args, project) if "pydantic" in name], args


def test_plain_values_are_coerced_as_typer_does(cli, project):
    """Plain values are coerced here; anything else reaches Typer's adapter, with its message."""
    assert cli("audit", "log", "--limit", "2", "--json").exit_code == 0
    bad = cli("audit", "log", "--limit", "two")
    assert bad.exit_code == 2 and "valid integer" in bad.stderr
    # A float option takes "0.5" and "1e-1" here; the command then fails on the reference only.
    for duration in ("0.5", "1e-1", "2"):
        result = cli("profile", "nothing", "--duration", duration)
        assert result.exit_code == 1 and "nothing" in result.stderr, result.stderr
    assert cli("profile", "nothing", "--duration", "fast").exit_code == 2
