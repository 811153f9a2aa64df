"""The one check of a stored file path: a plain relative POSIX path, so no record can make a
command read or write outside the folder it was given.

A version's file paths come from a folder walk at register, but they are read back from
records, the database, audit events (`audit recover` trusts any of them) and bundle JSON in
an image: every place that reads or writes one checks it here, whatever wrote it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlops_cli.errors import IntegrityError

_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(path: object) -> str | None:
    """Why `path` is not a plain relative path (`dir/file.onnx`), or None when it is one."""
    if not isinstance(path, str) or not path:
        return "it is empty or not text"
    if "\0" in path or any(ord(c) < 32 for c in path):
        return "it holds a control character"
    if "\\" in path:
        return "it holds a backslash"
    if path.startswith("/"):
        return "it is absolute"
    if _DRIVE.match(path):
        return "it starts with a drive letter"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' part"
    return None


def check_stored_path(path: object) -> str:
    """`path` itself when it is a plain relative path; IntegrityError (exit 5) naming it if not."""
    problem = path_problem(path)
    if problem is not None:
        raise IntegrityError(
            f"the store lists an unsafe file path {path!r}: {problem}",
            hint="a record was altered; `mlops audit verify` tells what else was",
        )
    return path  # type: ignore[return-value]


def safe_join(root: Path, path: object) -> Path:
    """`root / path` after the check: a path that stays inside `root`."""
    return root.joinpath(*check_stored_path(path).split("/"))
