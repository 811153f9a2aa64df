"""A copy of every version's record outside the database: `.mlops/records/NAME/N.json`.

If `mlops.db` is lost (a failed copy, a bad restore, a dead disk sector), the blobs alone do
not say which model and version they belong to. Each record holds what registration set
(name, number, digest, every file's path/size/mode/blob, framework, message, tags and alias at
registration, datasets, signature, metadata), so `mlops audit recover` can rebuild the version.
Written under the registration's write lock and removed when the version is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECORDS_DIRNAME = "records"
FORMAT = "mlops.version-record/1"


class Records:
    """The records folder of one store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, ref: str) -> Path:
        name, _, number = ref.rpartition(":")
        return self.root / name / f"{int(number)}.json"

    def write(self, ref: str, state: dict[str, Any] | None) -> None:
        """Write the record of `ref` atomically; `state=None` removes it (a rolled-back write)."""
        path = self.path_for(ref)
        if state is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps({"format": FORMAT, **state}, sort_keys=True, indent=1))
        os.replace(temp, path)

    def remove(self, ref: str) -> None:
        self.path_for(ref).unlink(missing_ok=True)
        try:
            self.path_for(ref).parent.rmdir()
        except OSError:
            pass  # other versions' records are still there

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every readable record; unreadable or foreign files are skipped."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*/*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("format") == FORMAT:
                yield record
