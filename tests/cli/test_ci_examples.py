"""examples/ci/: the CI files parse, every `mlops ...` they call exists with the options they
use, and examples/pipeline/ runs end to end."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from mlops_cli.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CI_FILES = sorted((EXAMPLES / "ci").glob("*.yml"))
ROOT_OPTIONS = {"--json", "--store", "--help", "-h"}


def _scripts(document: dict) -> list[str]:
    """Every shell text of a GitHub Actions workflow (`run:`) or a GitLab CI file (`script:`)."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    found.append(value)
                elif key in ("script", "before_script", "after_script"):
                    found.extend(value if isinstance(value, list) else [value])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return found


def _mlops_calls(script: str) -> list[list[str]]:
    calls = []
    for line in script.splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part.split(">", 1)[0])
            if words and words[0] == "mlops":
                calls.append(words[1:])
    return calls


def _check_call(words: list[str]) -> str | None:
    """None when the command and its options exist; else what is wrong."""
    command = typer.main.get_command(app)
    path = []
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return f"no command {' '.join([*path, name])}"
        command, path = sub, [*path, name]
    known = {opt for param in command.params for opt in getattr(param, "opts", [])} | ROOT_OPTIONS
    for word in rest:
        if word.startswith("-") and word.split("=", 1)[0] not in known:
            return f"mlops {' '.join(path)} has no option {word}"
    return None


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_ci_files_parse_and_call_only_existing_commands(ci_file: Path):
    document = yaml.safe_load(ci_file.read_text())
    calls = [c for script in _scripts(document) for c in _mlops_calls(script)]
    names = {c[0] for c in calls}
    assert {"init", "pipeline", "monitor", "push"} <= names, names
    problems = {" ".join(c): _check_call(c) for c in calls}
    assert {k: v for k, v in problems.items() if v is not None} == {}
    assert any("--fail-on-drift" in c for c in calls)


def test_the_checker_notices_a_missing_command_or_option():
    assert _check_call(["pipeline", "run", "--jobs", "2"]) is None
    assert (
        _check_call(["monitor", "check", "x", "--fail-on-drif"])
        == "mlops monitor check has no option --fail-on-drif"
    )
    assert _check_call(["pipelin", "run"]) == "no command pipelin"
    assert _check_call(["push", "x", "--remote", "team"]) is None


@pytest.mark.slow
def test_the_example_pipeline_runs_end_to_end(tmp_path: Path):
    """Train, register, convert (parity checked), evaluate; then a second run does nothing."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    work = tmp_path / "pipeline"
    shutil.copytree(EXAMPLES / "pipeline", work)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLOPS_STORE", None)

    def mlops(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mlops_cli", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert mlops("init").returncode == 0
    first = mlops("pipeline", "run", "--jobs", "2", "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    steps = {s["name"]: s for s in json.loads(first.stdout)["steps"]}
    assert {n: s["status"] for n, s in steps.items()} == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    assert steps["train"]["registered"] == {"registered": "iris:1", "converted": "iris-onnx:1"}
    assert json.loads((work / "metrics.json").read_text())["accuracy"] > 0.8

    again = mlops("pipeline", "run", "--json")
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"skipped"}
    lineage = json.loads(mlops("audit", "lineage", "iris-onnx:1", "--json").stdout)
    kinds = {n["kind"] for n in lineage["nodes"]}
    assert {"version", "pipeline", "dataset"} <= kinds
    drift = mlops(
        "monitor",
        "check",
        "iris-onnx:latest",
        "--data",
        "data/test.csv",
        "--reference",
        "data/train.csv",
        "--fail-on-drift",
    )
    assert drift.returncode == 0, drift.stderr[-2000:]
