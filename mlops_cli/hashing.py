"""Hashing files the one way every part of mlops names content: `sha256:<hex>`.

Standard library only: the store, the runtime and the serving image all use it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

ALGORITHM = "sha256"
CHUNK = 4 * 1024 * 1024


def sha256_file(
    path: Path, progress: Callable[[int], None] | None = None, *, copy_to: BinaryIO | None = None
) -> tuple[str, int]:
    """Return (`sha256:<hex>`, size) of a file, read once in large chunks into one buffer.

    With `copy_to`, every chunk is also written there: hashing while copying, one read pass.
    """
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        # A small file gets a small buffer: allocating 4 MiB per file dominated re-hashing
        # thousands of small blobs (`audit verify`). A file that grows is still read to its end.
        buffer = bytearray(max(1, min(CHUNK, os.fstat(handle.fileno()).st_size + 1)))
        view = memoryview(buffer)
        advise_sequential(handle.fileno())
        while n := handle.readinto(buffer):
            chunk = view[:n]
            hasher.update(chunk)
            if copy_to is not None:
                written = 0
                while written < n:  # an unbuffered write may take only part of the chunk
                    written += copy_to.write(chunk[written:])
            size += n
            if progress:
                progress(n)
    return f"{ALGORITHM}:{hasher.hexdigest()}", size


def advise_sequential(fd: int) -> None:
    """Tell the kernel a file is read front to back, so it reads ahead generously."""
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass  # not supported on this filesystem: only a hint
