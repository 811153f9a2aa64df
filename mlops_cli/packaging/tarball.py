"""Deterministic tar.gz archives, and reading them back without trusting them.

The same inputs give the same bytes, as reproducible-build tooling requires: entries sorted,
every mtime fixed, owner 0:0 with no names, modes reduced to 0644/0755, and a gzip header with
no file name and mtime 0. Reading never extracts: members are streamed and checked, and any
member that is not a plain relative file or folder is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# 2000-01-01T00:00:00Z: a fixed, plausible time (some tools treat 0 as "missing").
FIXED_MTIME = 946684800
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """A file to archive: its path in the archive and either a source file or bytes."""

    path: str
    source: Path | None = None
    data: bytes | None = None
    executable: bool = False


def _info(name: str, *, size: int = 0, directory: bool = False, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o755 if executable else 0o644
    return info


def _folders(paths: list[str]) -> list[str]:
    found: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path).parents:
            if str(parent) != ".":
                found.add(str(parent))
    return sorted(found)


def write_tarball(target: Path, entries: list[Entry], compresslevel: int = 6) -> None:
    """Write `entries` (and their parent folders) to `target` as a deterministic .tar.gz.

    Written to a temporary file beside `target` and renamed, so a failure leaves nothing.
    """
    paths = [e.path for e in entries]
    if len(set(paths)) != len(paths):
        raise ValueError("an archive path appears twice")
    items: list[tuple[str, Entry | None]] = [(f, None) for f in _folders(paths)]
    items += [(e.path, e) for e in entries]
    items.sort(key=lambda item: item[0])
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
            ) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar,
        ):
            for name, entry in items:
                if entry is None:
                    tar.addfile(_info(name, directory=True))
                elif entry.data is not None:
                    info = _info(name, size=len(entry.data), executable=entry.executable)
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    assert entry.source is not None
                    with open(entry.source, "rb") as handle:
                        size = os.fstat(handle.fileno()).st_size
                        tar.addfile(_info(name, size=size, executable=entry.executable), handle)
            raw.flush()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class UnsafeArchiveError(ValueError):
    """A member an archive of ours never holds: a link, a device, an absolute or `..` path."""


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    sha256: str
    executable: bool
    data: bytes | None = None  # the content, for the members asked to be kept


def safe_member_path(name: str) -> str:
    """The member's path if it is plain and relative; UnsafeArchiveError otherwise."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or ":" in path.parts[0]:
        raise UnsafeArchiveError(f"unsafe path {name!r} in the archive")
    return str(path)


def read_members(archive: Path, keep: tuple[str, ...] = (), keep_limit: int = 64 << 20) -> list[Member]:
    """Every regular file of the archive with its sha256, in one streaming pass, never extracting.

    The members named in `keep` (at most `keep_limit` bytes each) come with their content.
    Raises UnsafeArchiveError for links, devices, unsafe paths or a kept member over the limit;
    tarfile.TarError, OSError, EOFError or zlib.error for an archive that is no readable tar.gz.
    """
    members = []
    with tarfile.open(archive, mode="r:gz") as tar:
        for info in tar:
            name = safe_member_path(info.name)
            if info.isdir():
                continue
            if not info.isreg():
                raise UnsafeArchiveError(f"{name!r} in the archive is not a regular file")
            kept = name in keep
            if kept and info.size > keep_limit:
                raise UnsafeArchiveError(f"{name} in the archive is larger than {keep_limit} bytes")
            handle = tar.extractfile(info)
            assert handle is not None
            hasher = hashlib.sha256()
            parts = []
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                if kept:
                    parts.append(chunk)
            data = b"".join(parts) if kept else None
            members.append(Member(name, info.size, hasher.hexdigest(), bool(info.mode & 0o100), data))
    return members
