"""The CLI as a whole: help for every command, start-up imports, version, completions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from mlops_cli import __version__
from mlops_cli.cli.app import app
from mlops_cli.cli.completions import SHELLS, completion_script

HEAVY = [
    "numpy",
    "onnxruntime",
    "onnx",
    "pandas",
    "pyarrow",
    "docker",
    "kubernetes",
    "tensorflow",
    "tf2onnx",
    "torch",
    "sklearn",
    "skl2onnx",
    "lightgbm",
    "xgboost",
    "onnxmltools",
    "joblib",
    "git",
    "yaml",
    "uvicorn",
    "starlette",
    "scipy",
    "matplotlib",
]
REPO = Path(__file__).resolve().parents[2]


def _commands(group=None, prefix=()):
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        else:
            yield path, command


ALL_COMMANDS = [" ".join(path) for path, _ in _commands()]


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout, f"`mlops {command} --help` lacks an example"
    group = typer.main.get_command(app)
    for part in command.split():
        group = group.commands[part]
    assert "--json" in [opt for p in group.params for opt in p.opts]


def test_root_help_lists_commands_with_summaries(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("init", "register", "models", "audit"):
        assert name in result.stdout


def test_help_does_not_import_heavy_libraries():
    """`mlops --help` and every command's help stay fast: heavy libraries load only when used."""
    helps = [["--help"], *([*command.split(), "--help"] for command in ALL_COMMANDS)]
    code = (
        "import sys, json\n"
        "from mlops_cli.cli import main\n"
        f"for argv in {helps!r}:\n    main(argv)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"mlops {__version__}"


def test_python_dash_m_runs_the_same_cli(project):
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "models", "list", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_no_store_is_exit_code_3_with_a_hint(cli, tmp_path, monkeypatch):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = cli("models", "list")
    assert result.exit_code == 3
    assert "mlops init" in result.stderr


def test_init_is_idempotent(cli, project):
    again = cli("init", "--json")
    assert again.exit_code == 0 and again.json["created"] is False
    elsewhere = project / "sub"
    created = cli("init", "--path", elsewhere, "--json")
    assert created.json == {
        "store": str(elsewhere / ".mlops"),
        "created": True,
        "config_created": True,
        "mode": "0700",
        "tightened_from": None,
    }


def test_debug_env_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("MLOPS_DEBUG", "1")
    result = cli("models", "show", "nope")
    assert result.exit_code == 1 and "Traceback" in result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_are_current(shell):
    shipped = (REPO / "completions" / f"mlops.{shell}").read_text()
    assert shipped == completion_script(shell), "run `make completions`"


def test_completion_answers_with_commands(project):
    env = {
        "_MLOPS_COMPLETE": "complete_bash",
        "COMP_WORDS": "mlops models ",
        "COMP_CWORD": "2",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "-m", "mlops_cli"], env=env, capture_output=True, text=True)
    assert {"list", "show", "tag", "alias", "download", "rm"} <= set(result.stdout.split())
