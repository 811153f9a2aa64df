"""Click's usage errors are the tool's one `error: ...` line on stderr, exit 2, for every command."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from mlops_cli.cli.app import app


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]

    def walk(group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if hasattr(command, "commands"):
                walk(command, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def _one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Usage:" not in result.stderr and "Try '" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "mlops")
def test_an_unknown_option_is_one_error_line_for_every_command(cli, path):
    line = _one_line(cli(*path, "--no-such-option"))
    assert "no such option: --no-such-option" in line
    assert f"(see `{' '.join(['mlops', *path])}" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["models", "show"], "missing argument 'REF'"),
        (["nosuch"], "no such command 'nosuch'"),
        (["audit", "log", "--limit", "x"], "invalid value for '--limit'"),
        (["audit", "verify", "--file"], "option '--file' requires an argument"),
    ],
)
def test_missing_arguments_bad_values_and_unknown_commands(cli, args, needle):
    assert needle in _one_line(cli(*args))


def test_the_real_process_prints_one_line_too(project):
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "models", "list", "--bogus"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: no such option: --bogus (see `mlops models list --help`)\n"


def test_a_group_alone_still_shows_its_help(cli):
    result = cli("models")
    assert result.exit_code == 2 and "Commands" in result.stdout + result.stderr


def test_an_option_before_a_groups_command_names_the_commands(cli):
    """`mlops models --json` reads as a command's option given too early: say where it goes."""
    line = _one_line(cli("models", "--json"))
    assert "no such option: --json; `mlops models` takes a command before its options: list," in line
    assert "show" in line and line.endswith("(see `mlops models --help`)")
    assert "takes a command" not in _one_line(cli("models", "list", "--bogus"))  # a command's own


@pytest.mark.parametrize("command", [["serve", "nosuch"], ["deploy", "nosuch", "--name", "web", "--dry-run"]])
def test_listening_on_every_interface_without_a_key_is_warned_first(cli, project, command):
    """The warning comes before anything else can fail (here: an unknown model), so a script sees it."""
    result = cli(*command, "--host", "0.0.0.0")
    assert result.exit_code != 0
    assert "warning: listening on 0.0.0.0 without --api-key-env" in result.stderr
    assert "warning" not in cli(*command, "--host", "0.0.0.0", "--api-key-env", "HOME").stderr
