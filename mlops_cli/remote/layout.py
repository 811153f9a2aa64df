"""What a remote holds and where (see docs/commands/remote.md, "Remote layout"):

    mlops-remote.json                 {"format", "id", "created_at"}: marks the remote, names it
    blobs/sha256/ab/cdef...           content-addressed blobs, as in a store's objects/
    models/NAME/N.json                NAME:N as the remote publishes it, written create-if-absent
    events/ORIGIN/000000000042.json   the audit events of store ORIGIN, one per file, each
                                      written create-if-absent: an append-only log per origin

Nothing on a remote is ever overwritten: a blob's name is its content, a version or an event
is created once. That is what makes concurrent pushes safe with only conditional creates.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from mlops_cli.domain import AuditEvent, FileEntry, GitInfo, Manifest, canonical_json
from mlops_cli.errors import IntegrityError
from mlops_cli.relpaths import check_stored_path
from mlops_cli.store.cas import hex_of
from mlops_cli.store.events import utc_now

MARKER = "mlops-remote.json"
REMOTE_FORMAT = "mlops.remote/1"
VERSION_FORMAT = "mlops.remote-version/1"
EVENT_FORMAT = "mlops.remote-event/1"


def blob_path(digest: str) -> str:
    hexdigest = hex_of(digest)
    return f"blobs/sha256/{hexdigest[:2]}/{hexdigest[2:]}"


def model_folder(name: str) -> str:
    return f"models/{name}"


def version_path(name: str, number: int) -> str:
    return f"models/{name}/{number}.json"


def numbered(names: list[str]) -> set[int]:
    """The numbers a listing of `models/NAME/` or `events/ORIGIN/` holds (`N.json`; temp or
    foreign files are ignored)."""
    return {int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()}


def events_folder(origin: str) -> str:
    return f"events/{origin}"


def event_path(origin: str, seq: int) -> str:
    return f"events/{origin}/{seq:012d}.json"


# ---- the marker ------------------------------------------------------------------------------


def new_marker() -> bytes:
    return _dump({"format": REMOTE_FORMAT, "id": secrets.token_hex(16), "created_at": utc_now()})


def parse_marker(data: bytes, url: str) -> str:
    """The remote's id; IntegrityError when the marker is not one mlops wrote."""
    record = _load(data, f"{url}/{MARKER}")
    if record.get("format") != REMOTE_FORMAT or not isinstance(record.get("id"), str):
        raise IntegrityError(
            f"{url}/{MARKER} is not an mlops remote marker (format {record.get('format')!r})"
        )
    return record["id"]


# ---- versions --------------------------------------------------------------------------------


def version_record(state: dict[str, Any], origin: dict[str, Any], pushed_by: str) -> bytes:
    """NAME:N as published: the version's full state (number = the remote's) and its origin."""
    return _dump(
        {
            "format": VERSION_FORMAT,
            "state": state,
            "origin": origin,
            "pushed_at": utc_now(),
            "pushed_by": pushed_by,
        }
    )


def parse_version(data: bytes, where: str) -> dict[str, Any]:
    """A version record, checked: its files must hash to the digest it names."""
    record = _load(data, where)
    state = record.get("state")
    if record.get("format") != VERSION_FORMAT or not isinstance(state, dict):
        raise IntegrityError(f"{where} is not an mlops version record")
    try:
        files = tuple(FileEntry(check_stored_path(p), int(s), int(m), d) for p, s, m, d in state["files"])
        for d in state["datasets"]:
            hex_of(d["digest"])
        ok = Manifest(files).digest == state["digest"] and all(hex_of(f.digest) for f in files)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{where} is damaged: {exc}") from exc
    if not ok:
        raise IntegrityError(f"{where} is damaged: its files do not hash to its digest {state['digest']}")
    return record


# ---- events ----------------------------------------------------------------------------------


def event_record(event: AuditEvent) -> bytes:
    return _dump({"format": EVENT_FORMAT, **asdict(event)})


def parse_event(data: bytes, where: str) -> AuditEvent:
    record = _load(data, where)
    if record.pop("format", None) != EVENT_FORMAT:
        raise IntegrityError(f"{where} is not an mlops audit event")
    try:
        git = record.pop("git")
        return AuditEvent(**record, git=GitInfo(**git) if git else None)
    except TypeError as exc:
        raise IntegrityError(f"{where} is damaged: {exc}") from exc


def _dump(record: dict[str, Any]) -> bytes:
    return canonical_json(record) + b"\n"


def _load(data: bytes, where: str) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise IntegrityError(f"{where} is not a JSON object")
    return record
