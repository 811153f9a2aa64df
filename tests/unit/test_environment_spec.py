"""Environment files parsed without pip: conda specs translated to pip's, lines kept for errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops_cli.environments.entry import read_contract
from mlops_cli.environments.spec import parse_environment
from mlops_cli.errors import UsageError

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _conda(tmp_path: Path, deps: str) -> list[tuple[str, int]]:
    path = tmp_path / "environment.yml"
    path.write_text(f"name: x\nchannels: [conda-forge]\ndependencies:\n{deps}")
    spec = parse_environment(path)
    assert spec.kind == "conda" and spec.python == PY
    return [(r.text, r.line) for r in spec.requirements]


def test_conda_specs_become_pip_requirements_with_their_lines(tmp_path):
    got = _conda(
        tmp_path,
        f"  - python={PY}\n  - pip\n  - scikit-learn=1.9\n  - conda-forge::numpy>=1.24\n"
        "  - pytorch\n  - pandas=2.2.3=py311h_0\n  - pip:\n    - inference-schema==1.8\n",
    )
    assert got == [
        ("scikit-learn==1.9.*", 6),
        ("numpy>=1.24", 7),
        ("torch", 8),
        ("pandas==2.2.3.*", 9),
        ("inference-schema==1.8", 11),
    ]


def test_pip_requirements_skip_comments_and_keep_markers(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# scoring\nnumpy>=1.24  # arrays\n\nuvloop; sys_platform != 'win32'\n")
    spec = parse_environment(path)
    assert [(r.name, r.line) for r in spec.requirements] == [("numpy", 2), ("uvloop", 4)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("numpy\n--index-url https://example.invalid\n", "requirements.txt:2: pip option '--index-url'"),
        ("numpy @ https://example.invalid/numpy.whl\n", "requirements.txt:1: numpy is given by URL"),
        ("numpy==\n", "requirements.txt:1: not a requirement"),
    ],
)
def test_bad_requirement_lines(tmp_path, text, message):
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        parse_environment(path)


def test_conda_only_packages_are_named(tmp_path):
    with pytest.raises(UsageError) as caught:
        _conda(tmp_path, "  - numpy\n  - libgcc-ng\n  - r-base\n")
    assert "libgcc-ng (line 5), r-base (line 6)" in caught.value.message


def test_contract_forms_and_assigned_run(tmp_path):
    script = tmp_path / "score.py"
    script.write_text(
        "import functools\ndef init(): pass\ndef _run(x): return x\nrun = functools.wraps(_run)(_run)\n"
    )
    assert read_contract(script).form == "azure"
    script.write_text("def init(): pass\ndef postprocess(outputs, request): return outputs\n")
    contract = read_contract(script)
    assert contract.form == "hooks" and contract.functions == ("init", "postprocess")
    script.write_text("def init(): pass\ndef run(x): return x\ndef preprocess(r): return r\n")
    with pytest.raises(UsageError, match="choose one contract"):
        read_contract(script)
