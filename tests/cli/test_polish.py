"""CLI polish: global options before the command, readable metavars, plurals, --store mistakes."""

import json
import re
import subprocess
import sys

import pytest

from tests.cli.test_app import ALL_COMMANDS


def _other_project(tmp_path, cli):
    other = tmp_path / "other"
    assert cli("init", "--path", other).exit_code == 0
    return other


def test_store_and_json_before_the_command(cli, tmp_path, model_file):
    other = _other_project(tmp_path, cli)
    assert cli("register", model_file, "--name", "here").exit_code == 0
    before = cli("--store", other, "--json", "models", "list")
    assert before.exit_code == 0 and before.json == []
    equals = cli(f"--store={other}", "models", "list", "--json")
    assert equals.exit_code == 0 and equals.json == []
    local = cli("--json", "models", "list")
    assert [m["name"] for m in local.json] == ["here"]


def test_the_commands_own_store_wins_over_the_roots(cli, tmp_path, project, model_file):
    other = _other_project(tmp_path, cli)
    assert cli("register", model_file, "--name", "here").exit_code == 0
    result = cli("--store", other, "models", "list", "--json", "--store", project)
    assert [m["name"] for m in result.json] == ["here"]


def test_root_store_beats_the_environment(cli, tmp_path, project, model_file, monkeypatch):
    other = _other_project(tmp_path, cli)
    assert cli("register", model_file, "--name", "here").exit_code == 0
    monkeypatch.setenv("MLOPS_STORE", str(other))
    assert cli("models", "list", "--json").json == []
    assert [m["name"] for m in cli("--store", project, "models", "list", "--json").json] == ["here"]


def test_root_store_without_a_value_is_a_usage_error(cli):
    result = cli("--store")
    assert result.exit_code == 2 and "--store needs a PATH" in result.stderr


def test_root_help_lists_the_global_options(cli):
    result = cli("--help")
    assert "--store PATH" in result.stdout and "--json" in result.stdout


def test_global_options_in_a_real_process(project, tmp_path):
    """The console script path, not CliRunner: argv goes through main()."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "--store", str(project), "--json", "models", "list"],
        cwd=other,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_help_shows_no_python_types(cli, command):
    text = cli(*command.split(), "--help").stdout
    assert not re.search(r"<(str|int|float|path|list\[[^\]]*\]|Path)>", text), text


def test_metavars_say_what_to_type(cli):
    text = cli("register", "--help").stdout
    assert "--tag KEY=VALUE" in text and "--name NAME" in text and "--store PATH" in text
    assert "--dataset PATH" in text


def test_store_pointing_at_a_file_says_so(cli, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    result = cli("models", "list", "--store", afile)
    assert result.exit_code == 3
    assert "is a file" in result.stderr and "mlops init" not in result.stderr


def test_plurals_agree_with_their_counts(cli, model_file, tmp_path):
    assert cli("register", model_file, "--name", "one").exit_code == 0
    shown = cli("models", "show", "one").stdout
    assert "1 file)" in shown and "1 files" not in shown
    downloaded = (
        cli("models", "download", "one", "--output", tmp_path / "out").stderr
        + cli("models", "download", "one", "--output", tmp_path / "out2").stdout
    )
    assert "(1 file," in downloaded
    removed = cli("models", "rm", "one:1")
    assert "(1 blob freed)" in removed.stdout
    verified = cli("audit", "verify").stdout
    assert "0 blobs" in verified and "blobs" in verified


def test_plural_helper():
    from mlops_cli.cli.output import plural

    assert plural(1, "file") == "1 file"
    assert plural(0, "blob") == "0 blobs"
    assert plural(1200, "row") == "1,200 rows"
    assert plural(2, "index", "indices") == "2 indices"


def test_help_loads_no_store_domain_or_pydantic():
    """What keeps every `--help` within 0.15 s (benchmarks/bench_help.py times it).

    A command module that needs the store or a domain package at import time makes every
    command's help slower: import it inside the command function, or use
    `LazyModule("mlops_cli.xyz")` from cli/commands/_common.py.
    """
    helps = [["--help"], *([*command.split(), "--help"] for command in ALL_COMMANDS)]
    slow = ["pydantic", "sqlite3", "mlops_cli.store", "mlops_cli.domain", "mlops_cli.models.manage"]
    code = (
        "import sys, json\n"
        "from mlops_cli.cli import main\n"
        f"for argv in {helps!r}:\n    main(argv)\n"
        f"print(json.dumps([m for m in {slow!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert loaded == [], (
        f"`--help` loads {loaded}: a command module imports them at definition time; import them "
        "inside the command function or use LazyModule (cli/commands/_common.py)"
    )
