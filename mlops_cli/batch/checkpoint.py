"""The job folder `.mlops/jobs/<id>/`: the plan, a lock, and one part file per finished chunk.

A part is written under a temp name and renamed, so its presence means the chunk is done; a
resumed run scores only the chunks whose part is missing. The lock (an flock held for the run)
tells a crashed job, which may be resumed, from one still running, which may not.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.domain import canonical_json
from mlops_cli.errors import MlopsError, UsageError

PLAN = "plan.json"
LOCK = "lock"
PARTS = "parts"
_PART = re.compile(r"^(\d{9})\.scores\.arrow$")


def new_job_id() -> str:
    return f"sb-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def plan_key(plan: dict[str, Any]) -> str:
    """What makes two runs the same job: everything that changes which rows land where."""
    return hashlib.sha256(canonical_json(plan)).hexdigest()[:16]


@dataclass
class JobFolder:
    root: Path
    _lock_fd: int | None = field(default=None, repr=False)

    @property
    def parts(self) -> Path:
        return self.root / PARTS

    def create(self, plan: dict[str, Any]) -> None:
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            (self.root / PLAN).write_text(json.dumps(plan, indent=2, sort_keys=True))
        except OSError as exc:
            raise MlopsError(f"cannot create the job folder {self.root}: {exc.strerror or exc}") from exc

    def plan(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / PLAN).read_text())
        except FileNotFoundError as exc:
            raise MlopsError(
                f"the checkpoint of this job is gone ({self.root})", hint="start a new run without --resume"
            ) from exc

    def lock(self) -> None:
        """Hold the job's lock until `unlock()` or the process ends (a kill releases it too)."""
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise UsageError(f"job {self.root.name} is running in another process") from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def done_chunks(self) -> set[int]:
        if not self.parts.is_dir():
            return set()
        return {int(m[1]) for name in os.listdir(self.parts) if (m := _PART.match(name))}

    def clean_temp_files(self) -> None:
        if self.parts.is_dir():
            for entry in self.parts.iterdir():
                if entry.name.startswith("."):
                    entry.unlink(missing_ok=True)

    def remove_parts(self) -> None:
        shutil.rmtree(self.parts, ignore_errors=True)

    def remove(self) -> None:
        """The whole folder (plan, lock, parts): a completed or abandoned job needs none of it."""
        self.unlock()
        shutil.rmtree(self.root, ignore_errors=True)

    def try_lock(self) -> bool:
        """Take the lock if no process holds it; False when a live run does (or no folder)."""
        try:
            self.lock()
        except UsageError:
            return False
        except FileNotFoundError:
            return not self.root.exists()
        return True
