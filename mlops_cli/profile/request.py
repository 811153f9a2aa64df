"""What a profile is asked to measure: the request, its checks, and the plan of points."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mlops_cli import limits
from mlops_cli.errors import UsageError
from mlops_cli.profile.recommend import DEFAULT_HEADROOM

MODES = ("inprocess", "http")
DEFAULT_CPUS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ProfileRequest:
    """What to measure, as the user asked; `check()` refuses what can never work."""

    ref: str
    data: Path | None = None
    rows: int = 1000
    batch_sizes: tuple[int, ...] = (1, 8, 64, 512)
    threads: tuple[int, ...] = (1, 2)
    workers: tuple[int, ...] = (1,)
    concurrency: tuple[int, ...] = (1, 4, 16)
    duration: float = 1.0
    warmup: float = 0.2
    repeat: int = 1
    modes: tuple[str, ...] = MODES
    in_container: bool = False
    cpus: tuple[float, ...] = ()  # CPU limits for --in-container; empty: DEFAULT_CPUS
    base_image: str = "python:3.11-slim"
    target_p99_ms: float | None = None
    target_rps: float | None = None
    headroom: float = DEFAULT_HEADROOM
    providers: tuple[str, ...] = ("CPUExecutionProvider",)  # chosen by runtime.providers
    message: str | None = None

    @property
    def cpu_limits(self) -> tuple[float, ...]:
        return self.cpus or DEFAULT_CPUS

    def check(self) -> None:
        for option, values in (
            ("--batch-sizes", self.batch_sizes),
            ("--threads", self.threads),
            ("--workers", self.workers),
            ("--concurrency", self.concurrency),
        ):
            if not values or any(v <= 0 for v in values):
                raise UsageError(f"{option} needs positive whole numbers, got {_listed(values)}")
        limits.check_threads("--threads", *self.threads)
        limits.check_processes("--workers", *self.workers)
        limits.check_callers("--concurrency", *self.concurrency)
        if any(not c > 0 or not math.isfinite(c) for c in self.cpus):
            raise UsageError(f"--cpus needs positive numbers, got {_listed(self.cpus)}")
        if self.cpus and not self.in_container:
            raise UsageError("--cpus applies only with --in-container")
        for option, value in (
            ("--duration", self.duration),
            ("--rows", self.rows),
            ("--repeat", self.repeat),
        ):
            if not value > 0 or not math.isfinite(value):
                raise UsageError(f"{option} must be a positive, finite number, got {value}")
        if self.warmup < 0 or not math.isfinite(self.warmup):
            raise UsageError(f"--warmup cannot be negative, got {self.warmup}")
        for option, value in (("--target-p99-ms", self.target_p99_ms), ("--target-rps", self.target_rps)):
            if value is not None and (not value > 0 or not math.isfinite(value)):
                raise UsageError(f"{option} must be a positive number, got {value}")
        if not 0 <= self.headroom <= 0.5:
            raise UsageError(
                f"--headroom must be between 0 and 0.5 (memory stays within 1.5x the peak): {self.headroom}"
            )
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise UsageError(
                f"unknown mode {', '.join(unknown) or '(none)'}", hint="choose inprocess, http or all"
            )
        if self.in_container and "http" not in self.modes:
            raise UsageError("--in-container measures over HTTP: it cannot go with --mode inprocess")


def parse_target(option: str, text: str | None) -> float | None:
    """A target given as text: a positive number, or UsageError naming the option."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a number") from None
    if not value > 0 or not math.isfinite(value):
        raise UsageError(f"{option} must be a positive number, got {text}")
    return value


def parse_list(option: str, text: str | None, kind: type = int) -> tuple:
    """`1,8,64` to a tuple of positive numbers; UsageError for anything else."""
    if text is None:
        return ()
    values = []
    for part in text.split(","):
        try:
            value = kind(part.strip())
        except ValueError:
            raise UsageError(f"{option} {text!r}: {part.strip()!r} is not a {kind.__name__} number") from None
        if not value > 0:
            raise UsageError(f"{option} needs positive numbers, got {text}")
        values.append(value)
    return tuple(values)


def _listed(values: tuple) -> str:
    return ",".join(str(v) for v in values) or "nothing"


@dataclass
class Plan:
    """Every point to measure, in order, so the progress bar knows the total."""

    inprocess: list[tuple[int, int, int]] = field(default_factory=list)  # threads, batch, concurrency
    http: list[tuple[float | None, int, int, int]] = field(default_factory=list)  # cpus, workers, batch, conc
    providers: int = 1  # every point is measured once per provider listed (at most)
    visits: int = 1  # each point is visited this many times (profile.passes)

    @property
    def total(self) -> int:
        return (len(self.inprocess) + len(self.http)) * self.providers * self.visits


def plan(request: ProfileRequest) -> Plan:
    from mlops_cli.profile.passes import visits

    result = Plan(providers=len(request.providers), visits=visits(request))
    if "inprocess" in request.modes:
        result.inprocess = [
            (t, b, c) for t in request.threads for b in request.batch_sizes for c in request.concurrency
        ]
    if "http" in request.modes:
        limits: tuple[float | None, ...] = request.cpu_limits if request.in_container else (None,)
        result.http = [
            (cpu, w, b, c)
            for cpu in limits
            for w in request.workers
            for b in request.batch_sizes
            for c in request.concurrency
        ]
    return result
