"""The serving layer: what the server itself needs inside an entry script's environment.

A version's environment holds exactly its pinned packages. The server also needs its own code
and dependencies (uvicorn, orjson, numpy, onnxruntime, ...). Installing those into every
environment would let them override the user's pins and double each build; putting the host's
whole site-packages on the path would leak everything installed here. So one small folder per
(Python, server dependency versions) holds those packages, at the versions this host runs, plus
a link to `mlops_cli`; each environment lists it in a `.pth` file, which Python appends after the
environment's own site-packages, so a version's pins always win.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from importlib import metadata
from pathlib import Path

from mlops_cli.environments.pip import run_pip
from mlops_cli.environments.spec import host_python

SERVING_ROOTS = ("uvicorn", "httptools", "uvloop", "orjson", "numpy", "onnxruntime")
READY = "mlops-layer.json"
# What a server imports before it is ready (uvicorn's loop and protocol are imported by name).
START_MODULES = (
    *SERVING_ROOTS,
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "mlops_cli.serving.__main__",
    "mlops_cli.serving.app",
    "mlops_cli.serving.entry_app",
    "mlops_cli.serving.model",
)


def serving_requirements() -> list[str]:
    """`name==version` for the server's dependencies and theirs, as installed on this host."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}

    def walk(name: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            return
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return  # an optional one (uvloop off Linux): the server falls back without it
        found[key] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                walk(requirement.name)

    for root in SERVING_ROOTS:
        walk(root)
    return sorted(f"{k}=={v}" for k, v in found.items())


def ensure_layer(envs_dir: Path) -> Path:
    """The layer folder under `envs_dir`, built once per Python and dependency set."""
    import mlops_cli

    pins = serving_requirements()
    package = Path(mlops_cli.__file__).resolve().parent
    key = hashlib.sha256(json.dumps([host_python(), pins, str(package)]).encode()).hexdigest()[:24]
    layer = envs_dir / f"serving-{key}"
    if (layer / READY).is_file():
        return layer
    staging = envs_dir / f".serving-{key}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        run_pip(
            [
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--only-binary=:all:",
                "--target",
                str(staging),
                *pins,
            ]
        )
        (staging / "mlops_cli").symlink_to(package, target_is_directory=True)
        precompile(staging)
        (staging / READY).write_text(json.dumps({"python": host_python(), "pinned": pins}) + "\n")
        try:
            os.replace(staging, layer)
        except OSError:
            if not (layer / READY).is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return layer


def precompile(layer: Path) -> None:
    """Write the bytecode of what a server imports before it is ready, once, when the layer is
    built. pip installs it --no-compile and an environment's server may not write bytecode
    (PYTHONDONTWRITEBYTECODE, as containers set it, or a read-only folder): compiling numpy and
    uvicorn from source at every start took 0.44 s of CPU to ready instead of 0.20 s here.
    Best effort: a module that fails to import is only left uncompiled."""
    import subprocess
    import sys

    from mlops_cli.pids import die_with_parent

    code = (
        "import importlib\n"
        f"for name in {START_MODULES!r}:\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except Exception:\n        pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONHOME")}
    env["PYTHONPATH"] = str(layer)  # the layer's packages first, as in an environment
    subprocess.run(
        [sys.executable, "-s", "-c", code],
        env=env, capture_output=True, timeout=300, check=False, preexec_fn=die_with_parent,
    )  # fmt: skip
