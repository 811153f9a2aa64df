"""Environment files parsed into one form: a Python pin and pip requirement lines.

pip requirements files are read line by line; a conda `environment.yml` gives its `python`
pin, its `pip:` section as is, and its conda packages translated to PyPI names and version
specifiers. Conda packages that are not Python packages (compilers, CUDA, MKL, C libraries)
cannot be installed by pip and are refused, named, with their line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlops_cli.errors import UsageError

PIP = "pip"
CONDA = "conda"


@dataclass(frozen=True)
class Requirement:
    """One requirement line as pip reads it, and where it came from (for error messages)."""

    text: str
    name: str  # normalised project name
    line: int


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment file asks for."""

    path: Path
    kind: str  # PIP or CONDA
    python: str  # MAJOR.MINOR the environment runs on
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)

    def line_of(self, name: str) -> int | None:
        wanted = normalise(name)
        return next((r.line for r in self.requirements if r.name == wanted), None)


# Conda packages with no PyPI counterpart that pip could install.
CONDA_ONLY = frozenset(
    {
        "cudatoolkit",
        "cuda-toolkit",
        "cudnn",
        "nccl",
        "mkl",
        "mkl-service",
        "mkl_fft",
        "mkl_random",
        "intel-openmp",
        "blas",
        "openblas",
        "nomkl",
        "openssl",
        "ca-certificates",
        "zlib",
        "xz",
        "bzip2",
        "ncurses",
        "readline",
        "sqlite",
        "tk",
        "gcc",
        "gxx",
        "gfortran",
        "compilers",
        "c-compiler",
        "cxx-compiler",
        "fortran-compiler",
        "make",
        "git",
        "nodejs",
        "ffmpeg",
        "icu",
        "hdf5",
        "jpeg",
        "freetype",
        "gdal",
        "proj",
        "geos",
        "graphviz",
        "pandoc",
        "vc",
        "vs2015_runtime",
        "ucrt",
        "tbb-devel",
        "krb5",
        "curl",
        "expat",
    }
)
CONDA_ONLY_PREFIXES = ("lib", "_", "r-", "cuda-", "gcc_", "gxx_")
# Conda names whose PyPI project is named differently.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "py-xgboost": "xgboost",
    "py-lightgbm": "lightgbm",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "opencv": "opencv-python-headless",
    "pytorch-cpu": "torch",
}

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503's normalised name: case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def parse_environment(path: Path) -> EnvironmentSpec:
    """Parse a requirements file or a conda environment file (by its .yml/.yaml suffix)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such environment file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the environment file: {exc}") from None
    if path.suffix.lower() in (".yml", ".yaml"):
        return _conda(path, text)
    return EnvironmentSpec(path, PIP, host_python(), tuple(_pip_lines(path, text)))


def _pip_lines(path: Path, text: str, first_line: int = 1) -> list[Requirement]:
    requirements = []
    for number, raw in enumerate(text.splitlines(), start=first_line):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            requirements.append(_requirement(path, line, number))
    return requirements


def _requirement(path: Path, line: str, number: int) -> Requirement:
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed

    if line.startswith("-"):
        raise UsageError(
            f"{path}:{number}: pip option {line.split()[0]!r} is not supported here",
            hint="list the packages themselves, one per line (NAME, NAME==VERSION, ...)",
        )
    try:
        parsed = Parsed(line)
    except InvalidRequirement as exc:
        raise UsageError(f"{path}:{number}: not a requirement: {line!r} ({exc})") from None
    if parsed.url:
        raise UsageError(
            f"{path}:{number}: {parsed.name} is given by URL; only index packages can be pinned",
        )
    return Requirement(line, normalise(parsed.name), number)


def _conda(path: Path, text: str) -> EnvironmentSpec:
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{path}{line}: not valid YAML: {reason}") from None
    if root is None:
        return EnvironmentSpec(path, CONDA, host_python())
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}:1: a conda environment file is a mapping (name, dependencies)")
    deps = next((v for k, v in root.value if k.value == "dependencies"), None)
    if deps is None:
        return EnvironmentSpec(path, CONDA, host_python())
    if not isinstance(deps, yaml.SequenceNode):
        raise UsageError(f"{path}:{deps.start_mark.line + 1}: dependencies must be a list")
    python = host_python()
    requirements: list[Requirement] = []
    refused: list[tuple[str, int]] = []
    for item in deps.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                if key.value != "pip" or not isinstance(value, yaml.SequenceNode):
                    raise UsageError(f"{path}:{line}: only a `pip:` list may be nested in dependencies")
                for entry in value.value:
                    requirements.append(_requirement(path, str(entry.value), entry.start_mark.line + 1))
            continue
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            raise UsageError(f"{path}:{line}: a dependency must be a package spec such as numpy=1.26")
        spec = str(item.value).strip().split("::")[-1]  # a channel prefix: conda-forge::numpy
        match = _NAME.match(spec)
        if match is None:
            raise UsageError(f"{path}:{line}: not a conda package spec: {spec!r}")
        name = match.group(1).lower()
        if name == "python":
            python = _python_pin(path, line, spec[match.end() :])
        elif name == "pip":
            continue
        elif name in CONDA_ONLY or name.startswith(CONDA_ONLY_PREFIXES):
            refused.append((name, line))
        else:
            pypi = CONDA_TO_PYPI.get(name, name)
            requirements.append(_requirement(path, pypi + _pip_specifier(spec[match.end() :]), line))
    if refused:
        where = ", ".join(f"{n} (line {n_line})" for n, n_line in refused)
        raise UsageError(
            f"{path}:{refused[0][1]}: conda-only package(s) that pip cannot install: {where}",
            hint="remove them, or list a PyPI package that provides the same under `pip:`",
        )
    return EnvironmentSpec(path, CONDA, python, tuple(requirements))


def _pip_specifier(conda: str) -> str:
    """Conda's version part as pip's: `=1.26` is `==1.26.*`, a build string is dropped."""
    conda = conda.strip()
    if not conda:
        return ""
    if conda.startswith("=") and not conda.startswith("=="):
        version = conda[1:].split("=")[0].strip()
        return f"=={version.rstrip('*').rstrip('.')}.*"
    if conda.startswith("=="):
        return "==" + conda[2:].split("=")[0].strip()
    return conda.split(" ")[0]


def _python_pin(path: Path, line: int, conda: str) -> str:
    """The pinned Python: it must be the one environments are built with on this machine."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    host = host_python()
    specifier = _pip_specifier(conda)
    if not specifier:
        return host
    try:
        allowed = SpecifierSet(specifier)
    except InvalidSpecifier:
        raise UsageError(f"{path}:{line}: not a Python version: python{conda}") from None
    full = ".".join(map(str, sys.version_info[:3]))
    if not allowed.contains(full):
        raise UsageError(
            f"{path}:{line}: the environment pins python{conda.strip()}, but environments here are"
            f" built with Python {full}",
            hint=f"pin python={host} (environments run on the interpreter mlops runs on)",
        )
    return host
