"""Helpers for the remote tests; the S3-compatible server is tests/s3_helpers.py's."""

from __future__ import annotations

import os
from pathlib import Path


def ok(result):
    """A CliRunner result that must have succeeded (its stderr shown otherwise)."""
    assert result.exit_code == 0, result.stderr
    return result


def register_random(
    cli, path: Path, name: str = "churn", store: Path | None = None, size: int = 4096
) -> dict:
    """`mlops register` of `size` random bytes written to `path`; the version as --json shows it."""
    path.write_bytes(os.urandom(size))
    extra = ["--store", store] if store else []
    return ok(cli("register", path, "--name", name, "--json", *extra)).json
