"""An offline wheelhouse for the image: the serving dependencies, pinned to the versions this
machine runs, downloaded once for the image's platform and cached in `.mlops/cache/wheels`.

Images build with the network off (`pip install --no-index`), so a build is reproducible and
works behind a firewall; only filling the cache needs the package index, or a folder of wheels
given with `--wheelhouse`. pip runs as a subprocess (argv list, timeout, stderr captured).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlops_cli.errors import ExternalToolError, MissingDependencyError
from mlops_cli.packaging.platforms import Platform

# What `python -m mlops_cli.serving` imports. No deps are resolved by pip (--no-deps): this
# list is the closure, which keeps onnxruntime's optional tooling (sympy, protobuf) out.
REQUIRED = ("onnxruntime", "numpy", "uvicorn", "h11", "click")
SPEEDUPS = ("uvloop", "httptools", "orjson")  # used when present
COLLECT = ("pyarrow",)
# What `package --with-batch` adds so the image can run score-batch shards on object storage:
# the readers/writers and the S3 backend, with their dependencies (closure() below).
BATCH = ("pyarrow", "fsspec", "s3fs")

PYTHON_VERSION = "3.11"
# Debian bookworm (glibc 2.36) and python:3.11-slim run any manylinux wheel up to 2_36.
PLATFORMS = Platform("linux", "amd64").wheel_tags()
PIP_TIMEOUT = 900


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(with_collect: bool = False, with_batch: bool = False) -> list[tuple[str, str]]:
    """(name, version) of each package the image needs, at the version installed here."""
    wanted = [*REQUIRED, *SPEEDUPS, *(COLLECT if with_collect else ())]
    if with_batch:
        wanted += [name for name in closure(BATCH) if normalise(name) not in map(normalise, wanted)]
    found = []
    for name in wanted:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            if name in SPEEDUPS:
                continue
            raise MissingDependencyError(name, "batch,s3" if with_batch else "serve") from None
    return found


def closure(names: tuple[str, ...]) -> list[str]:
    """`names` and everything they require (their installed metadata, markers evaluated here:
    the image runs the same Python on Linux), in a stable order. Images install with --no-deps,
    so this is what makes the list complete. A package not installed here is returned as is
    (pins() then names the extra that installs it)."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo = list(reversed(names))
    while todo:
        name = todo.pop()
        if normalise(name) in found:
            continue
        found[normalise(name)] = name
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def _wheel_matches(filename: str, name: str, version: str, platforms: tuple[str, ...] = PLATFORMS) -> bool:
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5 or normalise(parts[0]) != normalise(name) or parts[1] != version:
        return False
    python, abi, platform = parts[-3], parts[-2], parts[-1]
    py_ok = any(t in ("cp311", "py3", "py311") for t in python.split("."))
    abi_ok = any(t in ("cp311", "abi3", "none") for t in abi.split("."))
    plat_ok = any(t == "any" or t in platforms for t in platform.split("."))
    return py_ok and abi_ok and plat_ok


def find_cached(cache: Path, name: str, version: str, platforms: tuple[str, ...] = PLATFORMS) -> Path | None:
    if not cache.is_dir():
        return None
    for path in sorted(cache.glob("*.whl")):
        if _wheel_matches(path.name, name, version, platforms):
            return path
    return None


def download_command(
    dest: Path, requirements: list[str], source: Path | None, platforms: tuple[str, ...] = PLATFORMS
) -> list[str]:
    """The pip argv that fetches binary wheels for the image's Python and platform."""
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps"]
    argv += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    argv += ["--abi", "cp311", "--abi", "abi3", "--abi", "none"]
    for platform in (*platforms, "any"):
        argv += ["--platform", platform]
    if source is not None:
        argv += ["--no-index", "--find-links", str(source)]
    return [*argv, "--dest", str(dest), *requirements]


def ensure_wheels(
    cache: Path,
    wanted: list[tuple[str, str]],
    source: Path | None = None,
    target: Platform | None = None,
) -> list[Path]:
    """The wheel file for each pin for `target` (default linux/amd64), downloading only those
    not yet in `cache`.

    Raises ExternalToolError (exit 4) when pip cannot get them, naming the packages.
    """
    platforms = (target or Platform("linux", "amd64")).wheel_tags()
    cache.mkdir(parents=True, exist_ok=True)
    missing = [(n, v) for n, v in wanted if find_cached(cache, n, v, platforms) is None]
    if missing:
        requirements = [f"{n}=={v}" for n, v in missing]
        argv = download_command(cache, requirements, source, platforms)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ExternalToolError(f"pip download timed out after {PIP_TIMEOUT} s") from None
        if done.returncode != 0:
            lines = [
                ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")
            ] or done.stderr.splitlines()
            raise ExternalToolError(
                f"could not download wheels for {', '.join(requirements)}: {' '.join(lines[-3:])}",
                hint="give a folder of cp311 manylinux wheels with --wheelhouse DIR"
                if source is None
                else None,
            )
    paths = []
    for name, version in wanted:
        path = find_cached(cache, name, version, platforms)
        if path is None:
            where = target.name if target else "linux/amd64"
            raise ExternalToolError(f"no cp311 manylinux wheel of {name}=={version} for {where} was found")
        paths.append(path)
    return paths


def copy_wheels(paths: list[Path], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(path, dest / path.name)
