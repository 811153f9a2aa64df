"""What `serve` of a cached environment does before it is ready: nothing it does not need."""

from __future__ import annotations

import subprocess
import sys

from mlops_cli.environments.layer import precompile
from mlops_cli.serving.config import ServeConfig
from mlops_cli.serving.launch import serving_argv


def test_the_default_cpu_provider_is_known_without_importing_onnxruntime():
    code = (
        "import sys\nfrom mlops_cli.runtime.providers import resolve\n"
        "choice = resolve(None)\nprint(choice.providers, 'onnxruntime' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["('CPUExecutionProvider',)", "False"]


def test_precompile_writes_bytecode_even_where_the_server_may_not(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as containers and some hosts set it
    package = tmp_path / "orjson"  # a stand-in for a layer package: found first on the path
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    precompile(tmp_path)
    assert [p.name.split(".")[0] for p in (package / "__pycache__").glob("*.pyc")] == ["__init__"]


def test_a_server_in_an_environment_gets_the_providers_chosen_here():
    cuda = ServeConfig(bundle="b.json", providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    argv = serving_argv(cuda)
    assert argv[argv.index("--providers") + 1] == "CUDAExecutionProvider,CPUExecutionProvider"
    assert "--providers" not in serving_argv(ServeConfig(bundle="b.json"))
