"""Guessing a model's framework from its files without running any of them.

Pickles are never loaded here: their opcodes are scanned for the modules they would import.
"""

from __future__ import annotations

from pathlib import Path

from mlops_cli.errors import UsageError

FRAMEWORKS = (
    "onnx",
    "sklearn",
    "keras",
    "tensorflow",
    "pytorch",
    "lightgbm",
    "xgboost",
    "unknown",
)
_PICKLE_MODULES = (
    ("lightgbm", "lightgbm"),
    ("xgboost", "xgboost"),
    ("torch", "pytorch"),
    ("sklearn", "sklearn"),
)
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib"}
_HEAD = 64 * 1024


def validate_framework(name: str) -> str:
    if name not in FRAMEWORKS:
        raise UsageError(f"unknown framework {name!r}", hint=f"choose one of {', '.join(FRAMEWORKS)}")
    return name


def detect_framework(path: Path, relative_files: list[str]) -> str:
    """The framework of a model file or folder, or 'unknown'."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or "saved_model.pb" in relative_files:
            return "tensorflow"
        found = {detect_file(path / rel) for rel in relative_files}
        found.discard("unknown")
        if len(found) == 1:
            return found.pop()
        if "onnx" in found:
            return "onnx"
        return "unknown"
    return detect_file(path)


def detect_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in (".keras", ".h5", ".hdf5"):
        return "keras"
    if suffix in (".pt", ".pth", ".pt2"):
        return "pytorch"
    if suffix == ".skops":
        return "sklearn"
    import zipfile  # here, not at the top: `mlops register --help` reads FRAMEWORKS only

    head = _read_head(path)
    if suffix in (".ubj", ".json", ".xgb", ".model", ".bst") and b"learner" in head[:4096]:
        return "xgboost"
    if head.startswith(b"tree\n") or (b"version=v" in head[:64] and b"num_class=" in head):
        return "lightgbm"
    if suffix in _PICKLE_SUFFIXES or head[:1] == b"\x80":
        return _pickle_framework(head) or "unknown"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "unknown"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch"
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
    return "unknown"


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(_HEAD)
    except OSError:
        return b""


def _pickle_framework(head: bytes) -> str | None:
    """Scan pickle opcodes (never executing them) for the top-level modules they import."""
    import io
    import pickletools

    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                strings.append(arg.split(" ", 1)[0])
            elif isinstance(arg, str) and opcode.name.endswith("UNICODE"):
                strings.append(arg)
    except (ValueError, EOFError, KeyError, TypeError, IndexError):
        pass  # the head is truncated or followed by raw array bytes: use what was seen
    for text in strings:
        root = text.split(".", 1)[0]
        for module, framework in _PICKLE_MODULES:
            if root == module:
                return framework
    return None
