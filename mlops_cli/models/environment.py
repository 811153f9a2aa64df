"""Environment snapshots: the Python, platform and installed distributions a version came from.

A snapshot is canonical JSON stored as one blob, so every version registered from the same
environment names the same digest and identical environments cost one blob in all. Listing the
installed distributions (`importlib.metadata`) takes tens of milliseconds, so the result is
cached per interpreter in `.mlops/cache/`, keyed by the interpreter and the modification times
of its site-packages folders (installing or removing a distribution changes its folder's mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.errors import IntegrityError
from mlops_cli.store.cas import ObjectStore

CACHE_PREFIX = "environment-"


@dataclass(frozen=True)
class EnvironmentRef:
    """What a version's or a run's metadata records: the blob and a summary to show without it."""

    digest: str
    python: str
    platform: str
    distributions: int
    written: bool = field(default=False, compare=False)  # this call stored the blob

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "python": self.python,
            "platform": self.platform,
            "distributions": self.distributions,
        }


def capture() -> dict[str, Any]:
    """The snapshot itself: `pip freeze`-like `name==version` lines, sorted, plus the interpreter."""
    import platform
    from importlib import metadata

    distributions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # a broken dist-info without a name is skipped, as pip does
            distributions.setdefault(_canonical(name), dist.version)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "distributions": [f"{n}=={v}" for n, v in sorted(distributions.items())],
    }


def _canonical(name: str) -> str:
    """PEP 503 normalisation, so `PyYAML` and `pyyaml` are one distribution."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _interpreter_key() -> str:
    """The interpreter and the state of the folders distributions are installed in.

    Only `site-packages`/`dist-packages` folders count: `sys.path` also holds the current or
    the script's folder, whose mtime changes with every file written there.
    """
    parts = [sys.executable, sys.version, sys.prefix]
    for entry in sys.path:
        if entry.rstrip("/").endswith(("site-packages", "dist-packages")):
            try:
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
            except OSError:
                parts.append(f"{entry}:-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def snapshot(objects: ObjectStore, cache_dir: Path) -> EnvironmentRef:
    """Store this interpreter's snapshot (once per distinct environment) and return its reference."""
    cache = cache_dir / f"{CACHE_PREFIX}{_interpreter_key()}.json"
    try:
        cached = EnvironmentRef(**json.loads(cache.read_text()))
        if objects.has(cached.digest):
            return cached
    except (OSError, ValueError, TypeError):
        pass
    data = capture()
    put = objects.put_bytes(json.dumps(data, sort_keys=True, indent=1).encode())
    ref = EnvironmentRef(
        put.digest, data["python"], data["platform"], len(data["distributions"]), put.written
    )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(cache, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(ref.to_dict(), handle)
    except OSError:
        pass  # only a cache
    return ref


def load(objects: ObjectStore, digest: str) -> dict[str, Any]:
    """A stored snapshot; IntegrityError (exit 5) when its blob is missing or altered."""
    if objects.verify(digest) is not None:
        raise IntegrityError(
            f"environment snapshot {digest} is missing or corrupt", hint="run `mlops audit verify`"
        )
    return json.loads(objects.path_for(digest).read_bytes())


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two snapshots: interpreter fields and distributions added, removed
    or at another version."""
    fields = {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in ("python", "implementation", "platform", "machine")
        if before.get(key) != after.get(key)
    }
    old = dict(d.split("==", 1) for d in before.get("distributions", []))
    new = dict(d.split("==", 1) for d in after.get("distributions", []))
    return {
        **fields,
        "added": [f"{n}=={new[n]}" for n in sorted(set(new) - set(old))],
        "removed": [f"{n}=={old[n]}" for n in sorted(set(old) - set(new))],
        "changed": [
            {"name": n, "from": old[n], "to": new[n]} for n in sorted(set(old) & set(new)) if old[n] != new[n]
        ],
    }
