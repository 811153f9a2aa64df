"""`mlops.lock`: what each step last succeeded with, meant to be committed next to pipeline.yaml.

The layout follows DVC's `dvc.lock` (a `schema`, then per step `cmd`, `deps`, `params`, `outs`,
each path with `hash: sha256`, its hex digest, `size` and a folder's `nfiles`). The text is
deterministic: the same results give the same bytes, so the file only changes in git when a
step's inputs or outputs did. It is replaced atomically, so a killed run leaves the old one.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.hashing import ALGORITHM

LOCK_FILE = "mlops.lock"
SCHEMA = "1.0"


@dataclass(frozen=True)
class LockedPath:
    path: str
    digest: str  # sha256:<hex>
    size: int
    nfiles: int | None = None

    def to_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "path": self.path,
            "hash": ALGORITHM,
            ALGORITHM: self.digest.split(":", 1)[1],
        }
        entry["size"] = self.size
        if self.nfiles is not None:
            entry["nfiles"] = self.nfiles
        return entry

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> LockedPath:
        return cls(str(data["path"]), f"{ALGORITHM}:{data[ALGORITHM]}", int(data["size"]), data.get("nfiles"))


@dataclass(frozen=True)
class LockEntry:
    """One step's last successful run: the inputs it ran with and the outputs it made."""

    cmd: str
    deps: tuple[LockedPath, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: tuple[LockedPath, ...] = ()

    def to_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"cmd": self.cmd}
        if self.deps:
            entry["deps"] = [d.to_yaml() for d in self.deps]
        if self.params:
            entry["params"] = self.params
        if self.outs:
            entry["outs"] = [o.to_yaml() for o in self.outs]
        return entry

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> LockEntry:
        return cls(
            cmd=str(data["cmd"]),
            deps=tuple(LockedPath.from_yaml(d) for d in data.get("deps") or []),
            params=dict(data.get("params") or {}),
            outs=tuple(LockedPath.from_yaml(o) for o in data.get("outs") or []),
        )


class LockFile:
    """The lock file of one pipeline; `record()` rewrites one step's entry, thread-safely."""

    def __init__(self, path: Path, order: tuple[str, ...]) -> None:
        self.path = path
        self.order = order  # steps in pipeline order: the order of the file
        self._mutex = threading.Lock()
        self.entries = read_lock(path)

    def record(self, step: str, entry: LockEntry) -> None:
        with self._mutex:
            self.entries[step] = entry
            write_lock(self.path, self.entries, self.order)

    def digest_with(self, step: str, entry: LockEntry) -> str:
        """The digest the file will have once `step` is recorded with `entry`."""
        text = lock_text({**self.entries, step: entry}, self.order)
        return f"{ALGORITHM}:{hashlib.sha256(text.encode()).hexdigest()}"

    def digest(self) -> str | None:
        """sha256 of the file as it is now (None when there is none): what a run is recorded with."""
        try:
            return f"{ALGORITHM}:{hashlib.sha256(self.path.read_bytes()).hexdigest()}"
        except FileNotFoundError:
            return None


def read_lock(path: Path) -> dict[str, LockEntry]:
    import yaml

    try:
        # libyaml's loader when present: read on every run, it is ~10x faster than pure Python
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {path.name}: {exc}", hint="restore it from git or delete it") from None
    if not data:
        return {}
    try:
        return {str(name): LockEntry.from_yaml(entry) for name, entry in (data.get("steps") or {}).items()}
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise UsageError(
            f"{path.name} is malformed ({exc})", hint="restore it from git or delete it"
        ) from None


def lock_text(entries: dict[str, LockEntry], order: tuple[str, ...]) -> str:
    """The deterministic YAML of a lock: pipeline order first, then any other step by name."""
    import yaml

    names = [n for n in order if n in entries] + sorted(n for n in entries if n not in order)
    document = {"schema": SCHEMA, "steps": {n: entries[n].to_yaml() for n in names}}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def write_lock(path: Path, entries: dict[str, LockEntry], order: tuple[str, ...]) -> None:
    text = lock_text(entries, order)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
