"""`mlops audit recover`: a new store from what survives of a damaged one.

What comes back, in order of authority:
1. the events that still chain from the first one: replayed, they give every version's digest,
   framework, message, tags, aliases, datasets and (for events that carry their state) every
   other field; they are copied verbatim into the new store's trail;
2. each version's record in `.mlops/records/NAME/N.json`: its files (path, size, mode, blob),
   and everything registration set, for versions whose events were lost;
3. the old registry tables, when they can still be read in full;
4. the blobs in `objects/`, each re-hashed; a version comes back only when every blob it names
   is intact. Blobs no surviving version names come back as versions of `lost-and-found`.

What cannot come back: changes whose events were lost (a tag set or an alias moved after
registration, for versions known only from their record), job records, artifact details, and
any version whose files' blobs are gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.audit import replay
from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import NoProgress, ProgressSink
from mlops_cli.errors import UsageError
from mlops_cli.relpaths import path_problem
from mlops_cli.store import create_store
from mlops_cli.store.cas import ObjectStore, iter_blob_paths
from mlops_cli.store.events import utc_now
from mlops_cli.store.gc import DIGEST_IN_TEXT
from mlops_cli.store.head import HEAD_FILENAME, read_head_file
from mlops_cli.store.project import find_store, store_paths_for_init
from mlops_cli.store.records import Records
from mlops_cli.store.restore import write_registry
from mlops_cli.store.salvage import surviving_events, surviving_tables
from mlops_cli.store.snapshot import VERSION_FIELDS, RegistryState

LOST_AND_FOUND = "lost-and-found"


@dataclass
class RecoveryReport:
    source: str
    store: str
    events_recovered: int = 0
    events_unchained: int = 0  # readable events after a break in the chain, not trusted
    trail_complete: bool = False  # the surviving trail reaches the old head file
    blobs: int = 0
    blobs_corrupt: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # ref -> where it came from
    lost: dict[str, str] = field(default_factory=dict)  # ref -> why it could not come back
    lost_and_found: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "store": self.store,
            "events_recovered": self.events_recovered,
            "events_unchained": self.events_unchained,
            "trail_complete": self.trail_complete,
            "blobs": self.blobs,
            "blobs_corrupt": self.blobs_corrupt,
            "versions": self.versions,
            "lost": self.lost,
            "lost_and_found": self.lost_and_found,
        }


_TEXT = (str, type(None))
# The type of every field a record may give a recovered version (a record is a plain file:
# anyone who can write to the store can edit it, so one of the wrong shape is skipped).
_RECORD_TYPES: dict[str, Any] = {
    "name": str,
    "digest": str,
    "framework": str,
    "created_at": str,
    "created_by": str,
    "host": str,
    "source_path": _TEXT,
    "description": _TEXT,
    "message": _TEXT,
    "alias": _TEXT,
    "git": (dict, type(None)),
    "signature": (dict, type(None)),
    "metadata": dict,
    "tags": dict,
    "datasets": list,
    "files": list,
}


def well_formed(record: dict[str, Any]) -> bool:
    """Whether a version record has every field recover reads, each of its type."""
    if type(record.get("version")) is not int:
        return False
    if any(not isinstance(record.get(k), t) for k, t in _RECORD_TYPES.items() if k in record or t is str):
        return False
    files = record.get("files") or []
    if not all(
        isinstance(f, list)
        and len(f) == 4
        and isinstance(f[0], str)
        and type(f[1]) is int
        and type(f[2]) is int
        and isinstance(f[3], str)
        for f in files
    ):
        return False
    datasets = record.get("datasets") or []
    return all(
        isinstance(d, dict)
        and isinstance(d.get("path"), str)
        and isinstance(d.get("digest"), str)
        and type(d.get("size")) is int
        for d in datasets
    )


def _defaults(name: str, number: int, now: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": number,
        "framework": "unknown",
        "created_at": now,
        "created_by": "unknown",
        "host": "unknown",
        "source_path": None,
        "description": None,
        "message": None,
        "git": None,
        "signature": None,
        "metadata": {},
        "tags": {},
        "datasets": [],
        "files": None,
    }


def _from_tables(tables: RegistryState | None, ref: str) -> dict[str, Any]:
    version = tables.versions.get(ref) if tables else None
    if version is None:
        return {}
    return {
        **version.fields,
        "tags": dict(version.tags or {}),
        "datasets": list(version.datasets or []),
        "files": [list(f) for f in version.files or []],
    }


def recover_store(
    explicit: Path | None, output: Path, progress: ProgressSink | None = None
) -> RecoveryReport:
    """Build a new store in `output` (a project folder) from the damaged store; return what came back.

    Raises StoreNotFoundError when there is no store to recover from, UsageError when `output`
    already holds a store or is the damaged store's own project.
    """
    source = find_store(explicit)
    target = store_paths_for_init(output)
    if target.root.exists():
        raise UsageError(f"{target.root} already exists", hint="recover into a new folder: --output NEW_DIR")
    progress = progress or NoProgress()
    report = RecoveryReport(str(source.root), str(target.root))
    events, report.events_unchained = surviving_events(source.db)
    report.events_recovered = len(events)
    try:
        old_head = read_head_file(source.root / HEAD_FILENAME)
    except UsageError:
        old_head = None
    report.trail_complete = bool(
        events and old_head and old_head.seq == events[-1].seq and old_head.hash == events[-1].hash
    )
    tables = surviving_tables(source.db)
    records = {f"{r['name']}:{r['version']}": r for r in Records(source.root / "records") if well_formed(r)}
    trail = replay.replay(events)
    removed = {e.subject for e in events if e.action == "rm"}

    store = create_store(target)
    try:
        available = _copy_blobs(source.objects, store.objects, report, progress)
        registry = _rebuild(trail, records, tables, removed, report, available)
        details = {
            "source": str(source.root),
            "old_head": f"{events[-1].seq}:{events[-1].hash}" if events else None,
            "events_recovered": report.events_recovered,
            "events_unchained": report.events_unchained,
            "versions": report.versions,
            "lost": report.lost,
            "blobs_corrupt": report.blobs_corrupt,
        }
        write_registry(store.conn, events, registry, details, provenance(None), str(target.root))
        for ref, version in registry["versions"].items():
            store.records.write(ref, version)
    finally:
        store.close()
    return report


def _copy_blobs(
    source: Path, objects: ObjectStore, report: RecoveryReport, progress: ProgressSink
) -> dict[str, int]:
    """Copy every intact blob (re-hashed while copied); return digest -> size of those."""
    available: dict[str, int] = {}
    blobs = list(iter_blob_paths(source))
    with progress.task("copying blobs", sum(p.stat().st_size for _, p in blobs)) as advance:
        for digest, path in blobs:
            put = objects.put_file(path, progress=advance)
            if put.digest != digest:
                report.blobs_corrupt.append(digest)
                if put.written:
                    objects.remove(put.digest)
                continue
            available[digest] = put.size
    report.blobs = len(available)
    return available


def _rebuild(
    trail: replay.Replay,
    records: dict[str, dict[str, Any]],
    tables: RegistryState | None,
    removed: set[str],
    report: RecoveryReport,
    available: dict[str, int],
) -> dict[str, Any]:
    now = utc_now()
    versions: dict[str, dict[str, Any]] = {}
    aliases: dict[tuple[str, str], int] = dict(trail.state.aliases)
    candidates: dict[str, tuple[str, dict[str, Any]]] = {}
    for ref, known in trail.state.versions.items():
        name, number = ref.rsplit(":", 1)
        merged = _defaults(name, int(number), now)
        digest = known.fields.get("digest")
        for extra in (_from_tables(tables, ref), records.get(ref, {})):
            if extra.get("digest") == digest:
                merged.update({k: v for k, v in extra.items() if k in merged and v is not None})
        merged.update({k: v for k, v in known.fields.items() if k in VERSION_FIELDS})
        merged["digest"] = digest
        merged["tags"] = dict(known.tags if known.tags is not None else merged["tags"])
        merged["datasets"] = list(known.datasets if known.datasets is not None else merged["datasets"])
        candidates[ref] = ("trail", merged)
    # Versions the surviving trail does not know: its events were lost (or, when the trail is
    # complete, the version never committed or was removed: its record is stale).
    if not report.trail_complete:
        for source_name, extra_versions in (("record", records), ("tables", _table_refs(tables))):
            for ref, extra in extra_versions.items():
                if ref in candidates or ref in removed:
                    continue
                name, number = ref.rsplit(":", 1)
                merged = _defaults(name, int(number), now)
                merged.update({k: v for k, v in extra.items() if k in merged or k == "digest"})
                candidates[ref] = (source_name, merged)
                if extra.get("alias") and (name, extra["alias"]) not in aliases:
                    aliases[(name, extra["alias"])] = int(number)
        if tables is not None and not trail.state.versions:
            aliases = {**tables.aliases, **aliases}
    for ref, (origin, merged) in sorted(candidates.items()):
        why = _why_lost(merged, available)
        if why:
            report.lost[ref] = why
            continue
        merged["files"] = [list(f) for f in merged["files"]]
        merged["size"] = sum(f[1] for f in merged["files"])
        versions[ref] = {k: merged[k] for k in (*_defaults("", 0, now), "digest", "size")}
        report.versions[ref] = origin
    _lost_and_found(versions, trail.state.artifacts, available, report, now)
    models: dict[str, dict[str, Any]] = {}
    for v in versions.values():
        model = models.setdefault(v["name"], {"description": None, "last_version": 0})
        model["last_version"] = max(
            model["last_version"], v["version"], trail.state.last_version.get(v["name"], 0)
        )
        if v["description"] is not None:
            model["description"] = v["description"]
    for name, description in trail.state.descriptions.items():
        if name in models:
            models[name]["description"] = description
    artifacts = [
        [kind, owner, ref, digest]
        for kind, rows in sorted(trail.state.artifacts.items())
        for owner, ref, digest in rows
        if owner in versions
    ]
    return {
        "models": models,
        "versions": versions,
        "aliases": sorted(
            [name, alias, n] for (name, alias), n in aliases.items() if f"{name}:{n}" in versions
        ),
        "artifacts": artifacts,
    }


def _table_refs(tables: RegistryState | None) -> dict[str, dict[str, Any]]:
    if tables is None:
        return {}
    return {ref: _from_tables(tables, ref) for ref in tables.versions}


def _why_lost(merged: dict[str, Any], available: dict[str, int]) -> str | None:
    from mlops_cli.domain import FileEntry, Manifest

    if not merged.get("files"):
        return "no record of its files survives (no record file, unreadable tables)"
    entries = tuple(FileEntry(*f) for f in merged["files"])
    if Manifest(entries).digest != merged.get("digest"):
        return "its surviving file list does not hash to the digest the trail recorded"
    for path, _, _, _ in merged["files"]:
        problem = path_problem(path)
        if problem is not None:
            return f"its file path {path!r} is unsafe ({problem}): the record was altered"
    for path, size, _, digest in merged["files"]:
        if available.get(digest) != size:
            return f"the blob of {path} ({digest}) is missing or corrupt"
    for dataset in merged.get("datasets") or []:
        if available.get(dataset["digest"]) != dataset["size"]:
            return f"the blob of dataset {dataset['path']} ({dataset['digest']}) is missing or corrupt"
    return None


def _lost_and_found(
    versions: dict[str, dict[str, Any]],
    artifacts: dict[str, list[tuple[str, str, str | None]]],
    available: dict[str, int],
    report: RecoveryReport,
    now: str,
) -> None:
    """Blobs no recovered version names become versions of `lost-and-found`, one file each.

    A blob of an artifact (a baseline, a profile) of a recovered version comes back as that
    artifact only; one of an artifact whose version was lost says so in its message.
    """
    from mlops_cli.domain import FileEntry, Manifest

    used = {f[3] for v in versions.values() for f in v["files"]}
    used |= {d["digest"] for v in versions.values() for d in v["datasets"]}
    orphaned: dict[str, str] = {}
    for kind, rows in sorted(artifacts.items()):
        for owner, _, digest in rows:
            if digest is None:
                continue
            if owner in versions:
                used.add(digest)
            else:
                orphaned.setdefault(
                    digest, f"the blob of {owner}'s {kind} artifact ({owner} was not recovered)"
                )
    # and the blobs a version's metadata names (its environment snapshot)
    used |= {d for v in versions.values() for d in DIGEST_IN_TEXT.findall(json.dumps(v.get("metadata")))}
    for number, digest in enumerate(sorted(set(available) - used), start=1):
        files = [[digest.split(":")[1], available[digest], 0o644, digest]]
        ref = f"{LOST_AND_FOUND}:{number}"
        versions[ref] = {
            **_defaults(LOST_AND_FOUND, number, now),
            "digest": Manifest((FileEntry(*files[0]),)).digest,
            "size": available[digest],
            "files": files,
            "message": orphaned.get(
                digest, "a blob found in objects/ that no surviving event, record or table names"
            ),
        }
        report.versions[ref] = "blob"
        report.lost_and_found += 1
