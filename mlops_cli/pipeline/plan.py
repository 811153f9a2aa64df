"""Whether a step must run, and why: its inputs now against its entry in the lock file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_cli.pipeline.lock import LockedPath, LockEntry
from mlops_cli.pipeline.spec import StepSpec
from mlops_cli.pipeline.state import PathDigest, StateCache


@dataclass
class StepInputs:
    """What a step runs with: the digests its lock entry will record if it succeeds."""

    cmd: str
    deps: dict[str, PathDigest]
    params: dict[str, dict[str, Any]]
    signatures: dict[str, tuple | None] = field(default_factory=dict)  # stat before the run

    def locked_deps(self) -> tuple[LockedPath, ...]:
        return tuple(LockedPath(p, d.digest, d.size, d.nfiles) for p, d in self.deps.items())


def read_inputs(step: StepSpec, cache: StateCache, params: dict[str, dict[str, Any]], root) -> StepInputs:
    """Hash a step's deps (through the state cache) and take a stat fingerprint of each, so a
    dep edited while the step runs can be told apart afterwards (treeverse/dvc#11058)."""
    deps: dict[str, PathDigest] = {}
    signatures: dict[str, tuple | None] = {}
    for dep in step.deps:
        signatures[dep] = cache.stat_signature(root / dep)
        found = cache.digest(root / dep)
        if found is not None:
            deps[dep] = found
    return StepInputs(step.cmd, deps, params, signatures)


def changes(inputs: StepInputs, locked: LockEntry | None, step: StepSpec) -> list[str]:
    """Why the step's inputs differ from its last successful run; empty when they do not."""
    if locked is None:
        return ["never ran"]
    reasons: list[str] = []
    if locked.cmd != inputs.cmd:
        reasons.append("cmd changed")
    before = {d.path: d for d in locked.deps}
    for path in step.deps:
        now = inputs.deps.get(path)
        if now is None:
            reasons.append(f"dep {path} is missing")
        elif path not in before:
            reasons.append(f"dep {path} is new")
        elif before[path].digest != now.digest:
            reasons.append(f"dep {path} changed")
    reasons += [f"dep {p} was removed from the step" for p in before if p not in step.deps]
    for file in sorted(set(locked.params) | set(inputs.params)):
        old, new = locked.params.get(file, {}), inputs.params.get(file, {})
        for key in sorted(set(old) | set(new)):
            if key not in new:
                reasons.append(f"param {key} was removed from the step")
            elif key not in old:
                reasons.append(f"param {key} is new")
            elif old[key] != new[key]:
                reasons.append(f"param {key} changed ({old[key]!r} -> {new[key]!r})")
    if tuple(o.path for o in locked.outs) != step.outs:
        reasons.append("outs changed")
    return reasons


def out_changes(step: StepSpec, locked: LockEntry, cache: StateCache, root) -> list[str]:
    """Outs that are missing or differ from what the lock recorded."""
    reasons = []
    for out in locked.outs:
        now = cache.digest(root / out.path)
        if now is None:
            reasons.append(f"out {out.path} is missing")
        elif now.digest != out.digest:
            reasons.append(f"out {out.path} was modified")
    return reasons
