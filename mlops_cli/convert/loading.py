"""Loading pickled, joblib and skops estimators from files materialised out of the store.

Unpickling runs code named in the file. That is why only files from the store (their digests
verified when copied out) are ever loaded, and why `--help` and docs/commands/convert.md say so.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import require
from mlops_cli.errors import MissingDependencyError, MlopsError

# skops refuses types it does not know; these packages' types are as trusted as sklearn's own.
_SKOPS_TRUSTED_ROOTS = ("sklearn", "numpy", "scipy", "lightgbm", "xgboost", "collections", "builtins")


def is_pickle(path: Path) -> bool:
    """A pickle or joblib file (by name or by its first byte), not a library's own model format."""
    if path.suffix.lower() in (".pkl", ".pickle", ".joblib", ".skops"):
        return True
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


def load_object(path: Path, label: str) -> Any:
    """The Python object in a pickle, joblib or skops file.

    Raises MlopsError for a corrupt or foreign file, MissingDependencyError when the pickle
    names a package that is not installed.
    """
    if path.suffix.lower() == ".skops":
        return _load_skops(path, label)
    joblib = require("joblib", "sklearn")
    try:
        return joblib.load(path)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        extra = {"sklearn": "sklearn", "lightgbm": "boosting", "xgboost": "boosting", "torch": "torch"}
        if root in extra:
            raise MissingDependencyError(root, extra[root]) from exc
        raise MlopsError(f"{label} needs the module {exc.name!r} to load, which is not installed") from exc
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as exc:
        raise MlopsError(
            f"{label} is not a readable pickle or joblib file ({type(exc).__name__}: {exc})"
        ) from exc


def _load_skops(path: Path, label: str) -> Any:
    sio = require("skops.io", "sklearn", "skops")
    try:
        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if t.split(".")[0] not in _SKOPS_TRUSTED_ROOTS]
        if foreign:
            raise MlopsError(
                f"{label} holds types skops does not trust: {', '.join(foreign)}",
                hint="save the model with joblib instead, or only with sklearn/numpy types",
            )
        return sio.load(path, trusted=untrusted)
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - skops raises many types for a broken archive
        raise MlopsError(f"{label} is not a readable skops file ({type(exc).__name__}: {exc})") from exc
