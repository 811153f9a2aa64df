"""The files an entry script brings into a version, and what is recorded about them.

Everything lands under `mlops-entry/` in the version's manifest: the helper code folder as
`mlops-entry/code/` (the script inside it, put on `sys.path` when it runs), the environment
file, and `requirements.lock`, the pinned set. They are hashed and verified like the model's
own files. `metadata["entry"]` says how to run them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.environments.entry import HOOKS, read_contract
from mlops_cli.environments.resolve import resolve
from mlops_cli.environments.spec import CONDA, parse_environment
from mlops_cli.errors import UsageError
from mlops_cli.sourcefiles import SourceFile, collect_files, normalised_mode

PREFIX = "mlops-entry"
CODE = f"{PREFIX}/code"
LOCK = f"{PREFIX}/requirements.lock"


@dataclass(frozen=True)
class EntryAttachment:
    files: tuple[SourceFile, ...]
    metadata: dict[str, Any]
    form: str


def prepare_entry(
    model_path: Path,
    model_files: list[SourceFile],
    script: Path,
    *,
    environment: Path | None,
    requirements: Path | None,
    code: Path | None,
    scratch: Path,
) -> EntryAttachment:
    """Parse the script and environment (never importing either), resolve the pinned set and
    list the files to store; `scratch` receives the lock file. UsageError for bad input."""
    if environment is not None and requirements is not None:
        raise UsageError("give --environment or --requirements, not both")
    taken = [f.relative for f in model_files if f.relative == PREFIX or f.relative.startswith(PREFIX + "/")]
    if taken:
        raise UsageError(f"{model_path} already holds {taken[0]}; {PREFIX}/ is reserved for entry scripts")
    contract = read_contract(script)
    files = _code_files(script, code)
    script_path = next(f.relative for f in files if f.absolute == script.resolve())
    env_file = environment or requirements
    env_meta = None
    if env_file is not None:
        spec = parse_environment(env_file)
        pinned = resolve(spec)
        stored_name = "environment.yml" if spec.kind == CONDA else "requirements.txt"
        files.append(_source(env_file, f"{PREFIX}/{stored_name}"))
        lock = scratch / "requirements.lock"
        lock.write_text(pinned.lock_text())
        files.append(_source(lock, LOCK))
        env_meta = {"file": f"{PREFIX}/{stored_name}", "kind": spec.kind, **pinned.to_dict()}
    metadata = {
        "form": contract.form,
        "script": script_path,
        "functions": list(contract.functions),
        "code": CODE,
        # Azure lays a registered folder out under its own name inside AZUREML_MODEL_DIR.
        "azure_folder": model_path.absolute().resolve().name if model_path.is_dir() else None,
        "environment": env_meta,
    }
    return EntryAttachment(tuple(files), metadata, contract.form)


def check_form(attachment: EntryAttachment, framework: str) -> None:
    """Hooks run around an ONNX graph, so that form needs an ONNX model."""
    if attachment.form == HOOKS and framework != "onnx":
        raise UsageError(
            f"preprocess()/postprocess() run around an ONNX graph; this model is {framework}",
            hint="convert it first (`mlops convert`), or write init()/run() that loads it itself",
        )


def _code_files(script: Path, code: Path | None) -> list[SourceFile]:
    if code is None:
        return [_source(script, f"{CODE}/{script.name}")]
    if not code.is_dir():
        raise UsageError(f"{code}: --code must be a folder")
    files = [
        SourceFile(f.absolute, f"{CODE}/{f.relative}", f.size, f.mode)
        for f in collect_files(code)
        if "__pycache__" not in f.relative.split("/")
    ]
    if any(f.absolute == script.resolve() for f in files):
        return files
    name = f"{CODE}/{script.name}"
    if any(f.relative == name for f in files):
        raise UsageError(f"{code} already holds a {script.name} that is not {script}")
    return [*files, _source(script, name)]


def _source(path: Path, relative: str) -> SourceFile:
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file")
    return SourceFile(path.resolve(), relative, st.st_size, normalised_mode(st.st_mode))


@dataclass(frozen=True)
class EntryRequest:
    """What `register --entry` was given."""

    script: Path
    environment: Path | None = None
    requirements: Path | None = None
    code: Path | None = None
