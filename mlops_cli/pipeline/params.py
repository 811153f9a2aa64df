"""Values of a step's params: dotted keys of a YAML or JSON params file (DVC's `params.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError

_MISSING = object()


class ParamsFiles:
    """Each params file read once per run; values looked up by dotted key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[str, Any] = {}

    def _document(self, file: str, step: str) -> Any:
        if file not in self._loaded:
            import yaml

            path = self.root / file
            try:
                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                self._loaded[file] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
            except FileNotFoundError:
                raise UsageError(f"step {step!r}: params file {file} does not exist") from None
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise UsageError(f"step {step!r}: cannot read params file {file}: {exc}") from None
        return self._loaded[file]

    def values(self, step: str, keys: tuple[tuple[str, str], ...]) -> dict[str, dict[str, Any]]:
        """`{file: {key: value}}` for a step, sorted; UsageError naming the step for a missing key."""
        found: dict[str, dict[str, Any]] = {}
        for file, key in keys:
            value = lookup(self._document(file, step), key)
            if value is _MISSING:
                raise UsageError(f"step {step!r}: params key {key!r} is not in {file}")
            found.setdefault(file, {})[key] = value
        return {file: dict(sorted(values.items())) for file, values in sorted(found.items())}


def lookup(document: Any, key: str) -> Any:
    """`train.lr` -> document['train']['lr']; a key containing dots is tried whole first."""
    if isinstance(document, dict) and key in document:
        return document[key]
    if isinstance(document, list) and key.isdigit() and int(key) < len(document):
        return document[int(key)]
    head, dot, rest = key.partition(".")
    if dot and isinstance(document, dict) and head in document:
        return lookup(document[head], rest)
    if dot and isinstance(document, list) and head.isdigit() and int(head) < len(document):
        return lookup(document[int(head)], rest)
    return _MISSING
