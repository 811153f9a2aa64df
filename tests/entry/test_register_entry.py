"""`mlops register --entry`: the script and its environment stored, parsed, never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

AZURE_SCRIPT = """
import json, os, pickle
def init():
    global model
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"), "rb") as f:
        model = pickle.load(f)
def run(raw_data):
    return [x * model["w"] for x in json.loads(raw_data)["data"]]
"""


@pytest.fixture
def pickled(project: Path) -> Path:
    path = project / "model.pkl"
    path.write_bytes(pickle.dumps({"w": 2}))
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_register_stores_script_environment_and_pinned_set(cli, project, pickled):
    write(project / "score.py", AZURE_SCRIPT + "\nraise SystemExit('imported at registration!')\n")
    write(project / "requirements.txt", "# the scoring environment\nnumpy\n")
    helpers = project / "helpers"
    helpers.mkdir()
    write(helpers / "features.py", "SCALE = 2\n")
    result = cli(
        "register", pickled, "--name", "doubler", "--entry", "score.py",
        "--requirements", "requirements.txt", "--code", helpers, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    version = result.json
    paths = {f["path"] for f in version["files"]}
    assert paths == {
        "model.pkl",
        "mlops-entry/code/score.py",
        "mlops-entry/code/features.py",
        "mlops-entry/requirements.txt",
        "mlops-entry/requirements.lock",
    }
    entry = version["metadata"]["entry"]
    assert entry["form"] == "azure" and entry["script"] == "mlops-entry/code/score.py"
    env = entry["environment"]
    assert env["kind"] == "pip" and env["digest"].startswith("sha256:")
    assert any(p.startswith("numpy==") for p in env["pinned"])
    # covered by verification, returned by download
    assert cli("audit", "verify").exit_code == 0
    out = project / "out"
    assert cli("models", "download", "doubler:1", "--output", out).exit_code == 0
    assert (out / "mlops-entry/code/score.py").read_text() == (project / "score.py").read_text()
    lock = (out / "mlops-entry/requirements.lock").read_text()
    assert all(line in lock for line in env["pinned"])
    shown = cli("models", "show", "doubler:1")
    assert "mlops-entry/code/score.py" in shown.stdout and "entry" in shown.stdout


def test_conda_environment_honours_pip_section_and_python_pin(cli, project, pickled):
    import sys

    write(project / "score.py", AZURE_SCRIPT)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    write(
        project / "environment.yml",
        f"name: scoring\nchannels: [conda-forge]\ndependencies:\n  - python={py}\n  - pip\n"
        "  - conda-forge::numpy>=1.24\n  - pip:\n    - packaging\n",
    )
    result = cli("register", pickled, "--entry", "score.py", "--environment", "environment.yml", "--json")
    assert result.exit_code == 0, result.stderr
    env = result.json["metadata"]["entry"]["environment"]
    assert env["kind"] == "conda" and env["python"] == py
    names = {p.split("==")[0] for p in env["pinned"]}
    assert {"numpy", "packaging"} <= names


def test_hooks_form_is_recorded(cli, project):
    from tests.onnx_helpers import logistic_onnx

    write(project / "hooks.py", "def preprocess(request):\n    return request\n")
    result = cli("register", logistic_onnx(project), "--entry", "hooks.py", "--json")
    assert result.exit_code == 0, result.stderr
    entry = result.json["metadata"]["entry"]
    assert entry["form"] == "hooks" and entry["functions"] == ["preprocess"]
    assert entry["environment"] is None


def test_ensemble_folder(cli, project):
    folder = project / "ensemble"
    folder.mkdir()
    (folder / "a.pkl").write_bytes(pickle.dumps(1))
    (folder / "b.pkl").write_bytes(pickle.dumps(2))
    write(project / "score.py", AZURE_SCRIPT)
    result = cli("register", folder, "--entry", "score.py", "--json")
    assert result.exit_code == 0, result.stderr
    assert {"a.pkl", "b.pkl"} <= {f["path"] for f in result.json["files"]}
    assert result.json["metadata"]["entry"]["azure_folder"] == "ensemble"


BAD = [
    ("missing.py", None, None, "missing.py: no such entry script"),
    ("syntax.py", "def init():\n    pass\ndef run(x:\n", None, "syntax.py:3: syntax error"),
    ("nothing.py", "def predict(x):\n    return x\n", None, "defines neither run()"),
    ("noinit.py", "def run(x):\n    return x\n", None, "no init()"),
    ("ok.py", AZURE_SCRIPT, ("requirements.txt", "numpy\n-e ./local\n"), "requirements.txt:2: pip option"),
    ("ok.py", AZURE_SCRIPT, ("requirements.txt", "numpy\nnot a requirement !!\n"), "requirements.txt:2:"),
    (
        "ok.py",
        AZURE_SCRIPT,
        ("requirements.txt", "numpy\nmlops-no-such-package-zz9==1.0\n"),
        "requirements.txt:2: no installable wheel of mlops-no-such-package-zz9",
    ),
    (
        "ok.py",
        AZURE_SCRIPT,
        ("environment.yml", "dependencies: [unclosed\n"),
        "environment.yml:2: not valid YAML",
    ),
    (
        "ok.py",
        AZURE_SCRIPT,
        ("environment.yml", "dependencies:\n  - numpy\n  - cudatoolkit=11.8\n  - mkl\n"),
        "conda-only package(s) that pip cannot install: cudatoolkit (line 3), mkl (line 4)",
    ),
    (
        "ok.py",
        AZURE_SCRIPT,
        ("environment.yml", "dependencies:\n  - python=2.7\n"),
        "environment.yml:2: the environment pins python=2.7",
    ),
]


@pytest.mark.parametrize(("script", "source", "env", "message"), BAD)
def test_bad_input_is_one_error_line_and_nothing_registered(
    cli, project, pickled, script, source, env, message
):
    if source is not None:
        write(project / script, source)
    args = ["register", pickled, "--entry", script]
    if env is not None:
        name, text = env
        write(project / name, text)
        args += ["--environment" if name.endswith(".yml") else "--requirements", name]
    result = cli(*args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert cli("models", "list", "--json").json == []


def test_hooks_need_an_onnx_model(cli, project, pickled):
    write(project / "hooks.py", "def postprocess(outputs, request):\n    return outputs\n")
    result = cli("register", pickled, "--entry", "hooks.py")
    assert result.exit_code == 2 and "around an ONNX graph" in result.stderr


def test_environment_without_entry_is_a_usage_error(cli, project, pickled):
    write(project / "requirements.txt", "numpy\n")
    result = cli("register", pickled, "--requirements", "requirements.txt")
    assert result.exit_code == 2 and "go with --entry" in result.stderr


def test_spark_batch_refuses_an_azure_form_version_clearly(cli, project, pickled):
    write(project / "score.py", AZURE_SCRIPT)
    assert cli("register", pickled, "--name", "az", "--entry", "score.py").exit_code == 0
    write(project / "rows.csv", "a\n1\n")
    spark = ("score-batch", "az", "--input", "rows.csv", "--output", "out.csv", "--engine", "spark")
    result = cli(*spark)
    assert result.exit_code == 2, result.stderr
    assert "runs through its entry script's run(), not an ONNX graph" in result.stderr
