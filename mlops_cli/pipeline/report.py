"""What `pipeline run` and `pipeline status` return: one record per step, in run order."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.errors import CheckFailedError, MlopsError

# A step's status after a run (or, for status and --dry-run, what a run would do).
SKIPPED = "skipped"  # inputs and outs equal the lock's: nothing to do
RESTORED = "restored"  # inputs unchanged, outs put back from the store
RAN = "ran"
FAILED = "failed"
NOT_RUN = "not-run"  # an upstream step failed or the run was interrupted first
INTERRUPTED = "interrupted"
CHANGED = "changed"  # status / --dry-run: the step would run


@dataclass
class StepReport:
    name: str
    status: str
    reasons: list[str] = field(default_factory=list)
    seconds: float | None = None
    exit_code: int | None = None
    error: str | None = None
    check_failed: bool = False  # the step failed a check (parity of its convert): exit 5
    log: str | None = None
    log_tail: list[str] = field(default_factory=list)
    outs: list[dict[str, Any]] = field(default_factory=list)
    registered: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineReport:
    pipeline: str
    dry_run: bool = False
    no_op: bool = False  # every selected step was up to date: nothing ran (the run is still a job)
    job: str | None = None
    lock: str | None = None  # digest of mlops.lock after the run
    environment: dict[str, Any] | None = None
    files_hashed: int = 0  # files read to hash them; 0 on a no-op run (the state cache answers)
    steps: list[StepReport] = field(default_factory=list)

    def step(self, name: str) -> StepReport:
        return next(s for s in self.steps if s.name == name)

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def failed(self) -> list[StepReport]:
        return [s for s in self.steps if s.status == FAILED]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = not self.failed
        return data

    def error(self) -> MlopsError | None:
        """The one error a failed run exits with: the first failed step, its log named."""
        if not self.failed:
            return None
        first = self.failed[0]
        others = len(self.failed) - 1
        stopped = self.count(NOT_RUN)
        message = f"step {first.name!r} failed: {first.error}"
        if others:
            message += f" (and {others} other step{'s' if others > 1 else ''})"
        if stopped:
            message += f"; {stopped} dependent step{'s' if stopped > 1 else ''} not run"
        hint = f"log: {first.log}" if first.log else None
        # A failed check (the parity of a step's convert) keeps its exit code, 5, for CI gates.
        return CheckFailedError(message, hint) if first.check_failed else MlopsError(message, hint)
