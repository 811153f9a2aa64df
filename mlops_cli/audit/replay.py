"""Rebuilding the registry from the audit trail, and naming where the tables differ from it.

Every registry write appends an event carrying the state it set (`details["state"]`), so the
trail alone says what the registry must be. `replay()` applies the events in order through a
table of per-action appliers; `compare()` names every version, field, tag, alias, artifact or
job whose row differs, is missing or is extra, e.g. `alias churn@prod: table says churn:2,
trail says churn:1`.

Events written before events carried their state ("legacy" events) are replayed from what they
do carry: a register event its digest, framework, size, source path, message, actor, host, git,
tags, alias and datasets; tag/untag/alias/unalias/rm events what they changed. Fields they do not
carry (created_at, description, signature, metadata) are not compared for those versions.

Actions replay does not know (other features' events) are ignored, except that any event whose
state holds an `artifact` or a `job` (written by `store/jobs.py` for every feature) is applied.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.domain import AuditEvent
from mlops_cli.store.snapshot import VERSION_FIELDS, RegistryState, VersionState

# Kinds always compared; others only once the trail has shown one (other features may write
# artifacts or jobs without events replay understands).
ARTIFACT_KINDS = {"image"}
JOB_KINDS = {"score-batch"}


@dataclass
class Replay:
    """The registry the trail describes, and what replay could not make sense of."""

    state: RegistryState = field(default_factory=RegistryState)
    legacy_events: int = 0  # events without `state`, replayed from what they carry
    problems: list[str] = field(default_factory=list)  # events that contradict the trail itself
    artifact_kinds: set[str] = field(default_factory=lambda: set(ARTIFACT_KINDS))
    job_kinds: set[str] = field(default_factory=lambda: set(JOB_KINDS))


Applier = Callable[[Replay, AuditEvent], None]


def _split_ref(ref: str) -> tuple[str, int]:
    name, _, number = ref.rpartition(":")
    return name, int(number)


def _version(replay: Replay, event: AuditEvent) -> VersionState | None:
    version = replay.state.versions.get(event.subject)
    if version is None:
        replay.problems.append(
            f"event {event.seq} ({event.action}) names {event.subject}, which the trail never created"
        )
    return version


def _state(event: AuditEvent) -> dict[str, Any] | None:
    state = event.details.get("state")
    return state if isinstance(state, dict) else None


def _datasets(items: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted(
        (
            {"path": d["path"], "digest": d["digest"], "size": d["size"], "role": d.get("role", "training")}
            for d in items or ()
        ),
        key=lambda d: d["path"],
    )


def _register(replay: Replay, event: AuditEvent) -> None:
    name, number = _split_ref(event.subject)
    details = event.details
    full = (_state(event) or {}).get("version")
    version = VersionState(event.subject)
    if isinstance(full, dict):
        version.fields = {k: full.get(k) for k in VERSION_FIELDS}
        version.fields["metadata"] = full.get("metadata") or {}
        version.tags = dict(full.get("tags") or {})
        version.datasets = _datasets(full.get("datasets"))
        alias = full.get("alias")
        if full.get("description") is not None:
            replay.state.descriptions[name] = full["description"]
    else:
        replay.legacy_events += 1
        version.fields = {
            "digest": details.get("digest"),
            "framework": details.get("framework"),
            "size": details.get("size"),
            "source_path": details.get("source_path"),
            "message": event.message,
            "created_by": event.actor,
            "host": event.host,
        }
        if "source_git" in details:
            version.fields["git"] = details["source_git"]
        version.tags = dict(details.get("tags") or {})
        version.datasets = _datasets(details.get("datasets"))
        alias = details.get("alias")
    replay.state.versions[event.subject] = version
    replay.state.last_version[name] = max(replay.state.last_version.get(name, 0), number)
    if alias:
        replay.state.aliases[(name, alias)] = number


def _tag(replay: Replay, event: AuditEvent) -> None:
    version = _version(replay, event)
    if version is None:
        return
    state = _state(event)
    if state and isinstance(state.get("tags"), dict):
        version.tags = dict(state["tags"])
        return
    replay.legacy_events += 1
    if version.tags is not None:
        if event.action == "tag":
            version.tags.update(event.details.get("set") or {})
        else:
            for key in event.details.get("removed") or {}:
                version.tags.pop(key, None)


def _alias(replay: Replay, event: AuditEvent) -> None:
    name, _, alias = event.subject.partition("@")
    state = (_state(event) or {}).get("alias")
    if isinstance(state, dict):
        target = state.get("version")
    else:
        replay.legacy_events += 1
        target = event.details.get("version") if event.action == "alias" else None
    if target is None:
        replay.state.aliases.pop((name, alias), None)
    else:
        replay.state.aliases[(name, alias)] = int(target)


def _rm(replay: Replay, event: AuditEvent) -> None:
    if _state(event) is None:
        replay.legacy_events += 1
    if replay.state.versions.pop(event.subject, None) is None:
        replay.problems.append(
            f"event {event.seq} (rm) removes {event.subject}, which the trail never created"
        )
    name, number = _split_ref(event.subject)
    for key, target in list(replay.state.aliases.items()):
        if key[0] == name and target == number:
            del replay.state.aliases[key]
    for kind, rows in replay.state.artifacts.items():
        replay.state.artifacts[kind] = [row for row in rows if row[0] != event.subject]


def _artifact(replay: Replay, event: AuditEvent) -> None:
    state = (_state(event) or {}).get("artifact")
    if isinstance(state, dict):
        kind, row = state["kind"], (state["version"], state["ref"], state.get("digest"))
    else:
        replay.legacy_events += 1
        kind, row = event.action, (event.subject, event.details.get("ref"), event.details.get("digest"))
    replay.artifact_kinds.add(kind)
    replay.state.artifacts.setdefault(kind, []).append(row)


def _job(replay: Replay, event: AuditEvent) -> None:
    state = (_state(event) or {}).get("job")
    if isinstance(state, dict):
        job = {k: state.get(k) for k in ("kind", "status", "model_ref", "model_digest")}
    else:
        replay.legacy_events += 1
        kind = event.action.removesuffix(".start")
        status = "running" if event.action.endswith(".start") else event.details.get("status")
        job = {"kind": kind, "status": status}
        known = replay.state.jobs.get(event.subject, {})
        job["model_ref"] = event.details.get("model", known.get("model_ref"))
    replay.job_kinds.add(job["kind"])
    replay.state.jobs[event.subject] = {**replay.state.jobs.get(event.subject, {}), **job}


def _recover(replay: Replay, event: AuditEvent) -> None:
    """`mlops audit recover` wrote the whole recovered registry: it replaces what came before."""
    registry = (_state(event) or {}).get("registry")
    if not isinstance(registry, dict):
        replay.problems.append(f"event {event.seq} (recover) carries no registry")
        return
    state = RegistryState()
    for ref, v in registry["versions"].items():
        version = VersionState(ref, fields={k: v.get(k) for k in VERSION_FIELDS})
        version.fields["metadata"] = v.get("metadata") or {}
        version.tags = dict(v.get("tags") or {})
        version.datasets = _datasets(v.get("datasets"))
        state.versions[ref] = version
    for name, model in registry["models"].items():
        state.last_version[name] = model["last_version"]
        state.descriptions[name] = model["description"]
    for name, alias, number in registry["aliases"]:
        state.aliases[(name, alias)] = number
    for kind, owner, ref, digest in registry["artifacts"]:
        state.artifacts.setdefault(kind, []).append((owner, ref, digest))
        replay.artifact_kinds.add(kind)
    replay.state = state


APPLIERS: dict[str, Applier] = {
    "recover": _recover,
    "register": _register,
    "convert": _register,
    "pull": _register,  # a version pulled from a remote carries its whole state (remote/pull.py)
    "tag": _tag,
    "untag": _tag,
    "alias": _alias,
    "unalias": _alias,
    "rm": _rm,
    "image": _artifact,
    "score-batch.start": _job,
    "score-batch": _job,
}


def apply(replay: Replay, event: AuditEvent) -> None:
    """Apply one event; unknown actions change nothing unless they carry an artifact or job."""
    applier = APPLIERS.get(event.action)
    if applier is None:
        state = _state(event) or {}
        if isinstance(state.get("artifact"), dict):
            applier = _artifact
        elif isinstance(state.get("job"), dict):
            applier = _job
        else:
            return
    applier(replay, event)


def replay(events: Iterable[AuditEvent]) -> Replay:
    """The registry the events describe, applied in order."""
    result = Replay()
    for event in events:
        apply(result, event)
    return result


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 90 else text[:87] + "..."


def compare(trail: Replay, table: RegistryState) -> list[str]:
    """Every difference between the tables and the trail, each named for a person to act on."""
    problems: list[str] = []
    expected = trail.state
    for ref in sorted(set(expected.versions) | set(table.versions)):
        mine, theirs = expected.versions.get(ref), table.versions.get(ref)
        if mine is None:
            problems.append(f"version {ref}: in the table, not in the trail")
            continue
        if theirs is None:
            problems.append(f"version {ref}: in the trail, missing from the table")
            continue
        problems += _compare_version(mine, theirs, table.blobs)
    for name in sorted(expected.last_version):
        if name not in table.last_version:
            problems.append(f"model {name}: in the trail, missing from the table")
        elif table.last_version[name] != expected.last_version[name]:
            problems.append(
                f"model {name} last version: table says {table.last_version[name]},"
                f" trail says {expected.last_version[name]}"
            )
    for name in sorted(set(table.last_version) - set(expected.last_version)):
        problems.append(f"model {name}: in the table, not in the trail")
    for name, description in sorted(expected.descriptions.items()):
        if name in table.descriptions and table.descriptions[name] != description:
            problems.append(
                f"model {name} description: table says {_show(table.descriptions[name])},"
                f" trail says {_show(description)}"
            )
    for key in sorted(set(expected.aliases) | set(table.aliases)):
        name, alias = key
        mine, theirs = expected.aliases.get(key), table.aliases.get(key)
        if mine != theirs:
            said = f"{name}:{theirs}" if theirs is not None else "nothing"
            trail_said = f"{name}:{mine}" if mine is not None else "no such alias"
            problems.append(f"alias {name}@{alias}: table says {said}, trail says {trail_said}")
    for kind in sorted(trail.artifact_kinds):
        mine, theirs = Counter(expected.artifacts.get(kind, [])), Counter(table.artifacts.get(kind, []))
        for row in sorted((theirs - mine).elements(), key=str):
            problems.append(f"artifact {kind} {row[1]} of {row[0]}: in the table, not in the trail")
        for row in sorted((mine - theirs).elements(), key=str):
            problems.append(f"artifact {kind} {row[1]} of {row[0]}: in the trail, missing from the table")
    for job_id in sorted(set(expected.jobs) | set(table.jobs)):
        mine, theirs = expected.jobs.get(job_id), table.jobs.get(job_id)
        kind = (mine or theirs)["kind"]
        if kind not in trail.job_kinds:
            continue
        if mine is None:
            problems.append(f"job {job_id}: in the table, not in the trail")
        elif theirs is None:
            problems.append(f"job {job_id}: in the trail, missing from the table")
        else:
            for key, value in mine.items():
                if theirs.get(key) != value:
                    problems.append(
                        f"job {job_id} {key}: table says {_show(theirs.get(key))}, trail says {_show(value)}"
                    )
    return problems


def _same(a: Any, b: Any) -> bool:
    """Equal, or equal as JSON (NaN in a parity report is not equal to itself)."""
    if a == b:
        return True
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _compare_version(mine: VersionState, theirs: VersionState, blobs: dict[str, int]) -> list[str]:
    problems = []
    ref = mine.ref
    for name in VERSION_FIELDS:
        if name in mine.fields and not _same(mine.fields[name], theirs.fields.get(name)):
            problems.append(
                f"version {ref} {name}: table says {_show(theirs.fields.get(name))},"
                f" trail says {_show(mine.fields[name])}"
            )
    recorded = mine.fields.get("digest")
    if recorded and theirs.files_digest != recorded:
        problems.append(
            f"version {ref} files: the table's files hash to {theirs.files_digest},"
            f" the trail recorded {recorded}"
        )
    if mine.tags is not None and mine.tags != theirs.tags:
        for key in sorted(set(mine.tags) | set(theirs.tags or {})):
            a, b = (theirs.tags or {}).get(key), mine.tags.get(key)
            if a != b:
                problems.append(
                    f"version {ref} tag {key}: table says {_show(a) if a is not None else 'nothing'},"
                    f" trail says {_show(b) if b is not None else 'no such tag'}"
                )
    if mine.datasets is not None and mine.datasets != sorted(theirs.datasets or [], key=lambda d: d["path"]):
        problems.append(
            f"version {ref} datasets: table says {_show(theirs.datasets)}, trail says {_show(mine.datasets)}"
        )
    for path, size, _, digest in theirs.files or []:
        if blobs.get(digest) != size:
            problems.append(
                f"version {ref} file {path}: blob {digest} of {size} bytes is not in the blobs table"
            )
    return problems
