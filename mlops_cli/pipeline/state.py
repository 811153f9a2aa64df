"""Digests of deps and outs without re-reading unchanged files (DVC's "state").

A file whose inode, size and mtime_ns are those recorded with its digest is not hashed again;
the cache lives in `.mlops/cache/pipeline-state.json` (owner-only). An entry is only kept for a
file last changed more than `RACY_SECONDS` before it was hashed: a write in the same clock tick
as the hash could otherwise keep the old digest (git's "racily clean" problem).

A folder's digest is that of its listing (path, digest, size of every file, sorted), like DVC's
`.dir` objects, so a folder is unchanged exactly when every file in it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.hashing import ALGORITHM, sha256_file

STATE_FILE = "pipeline-state.json"
RACY_SECONDS = 2.0


@dataclass(frozen=True)
class PathDigest:
    """What a dep or out is: a file's digest, or a folder's listing digest and file count."""

    digest: str
    size: int
    nfiles: int | None = None  # None for a file
    listing: tuple[tuple[str, str, int], ...] = ()  # a folder's (relative path, digest, size)

    def to_lock(self, path: str) -> dict:
        entry: dict = {"path": path, "digest": self.digest, "size": self.size}
        if self.nfiles is not None:
            entry["nfiles"] = self.nfiles
        return entry


def listing_bytes(listing: tuple[tuple[str, str, int], ...]) -> bytes:
    """The canonical text of a folder's listing: what its digest is the hash of."""
    return "".join(f"{digest} {size} {path}\n" for path, digest, size in listing).encode()


class StateCache:
    """stat -> digest for files under one project, loaded once and saved once per command."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / STATE_FILE
        self._lock = threading.Lock()
        self._dirty = False
        try:
            self._entries: dict[str, list] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}  # no cache yet, or a damaged one: it is only a cache
        self.hashed = 0  # files actually read this run (tests and benchmarks look at it)

    def file_digest(self, path: Path, st: os.stat_result | None = None) -> PathDigest:
        st = st or os.stat(path)
        key = str(path)
        signature = [st.st_ino, st.st_size, st.st_mtime_ns]
        known = self._entries.get(key)
        if known is not None and known[:3] == signature:
            return PathDigest(known[3], st.st_size)
        started = time.time_ns()
        digest, size = sha256_file(path)
        with self._lock:
            self.hashed += 1
            if size == st.st_size and st.st_mtime_ns < started - int(RACY_SECONDS * 1e9):
                self._entries[key] = [*signature, digest]
                self._dirty = True
        return PathDigest(digest, size)

    def digest(self, path: Path) -> PathDigest | None:
        """A file's or folder's digest; None when the path does not exist."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        if not os.path.isdir(path):
            return self.file_digest(path, st)
        listing = tuple(
            (relative, found.digest, found.size)
            for relative, found in ((r, self.file_digest(path / r)) for r in _files_under(path))
        )
        text = listing_bytes(listing)
        digest = f"{ALGORITHM}:{hashlib.sha256(text).hexdigest()}"
        return PathDigest(digest, sum(s for _, _, s in listing), len(listing), listing)

    def stat_signature(self, path: Path) -> tuple | None:
        """A cheap fingerprint of a file or folder (every file's inode, size, mtime_ns)."""
        try:
            if not path.is_dir():
                st = os.stat(path)
                return ((st.st_ino, st.st_size, st.st_mtime_ns),)
            return tuple((r, *_stat3(path / r)) for r in _files_under(path))
        except FileNotFoundError:
            return None

    def save(self) -> None:
        """Write the cache atomically (temp file + rename), owner-only; failures are ignored."""
        if not self._dirty:
            return
        with self._lock:
            live = {k: v for k, v in self._entries.items() if os.path.exists(k)}
            temp = self.path.with_name(f"{os.getpid()}-{STATE_FILE}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    json.dump(live, handle, separators=(",", ":"))
                os.replace(temp, self.path)
                self._dirty = False
            except OSError:
                temp.unlink(missing_ok=True)


def _stat3(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _files_under(folder: Path) -> list[str]:
    """Every file below a folder as sorted relative POSIX paths (symlinks to files count)."""
    found: list[str] = []
    stack = [""]
    while stack:
        prefix = stack.pop()
        with os.scandir(folder / prefix if prefix else folder) as entries:
            for entry in entries:
                relative = f"{prefix}/{entry.name}" if prefix else entry.name
                if entry.is_dir():
                    stack.append(relative)
                elif entry.is_file():
                    found.append(relative)
    return sorted(found)
