"""`mlops push`: publish versions to a remote, blobs first, then version records, then events.

The remote is the authority for NAME:N. A version whose number the remote holds with another
digest is a conflict (VersionConflictError, exit 6), found before anything is uploaded and
again at the create-if-absent write that settles a race; `renumber` publishes it as the
remote's next number instead and records the mapping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import ModelRef, ModelVersion, NoProgress, ProgressSink
from mlops_cli.errors import IntegrityError, RemoteError, UsageError, VersionConflictError
from mlops_cli.remote import layout
from mlops_cli.remote.connection import Remote, open_remote, parallel
from mlops_cli.remote.trail import upload_events
from mlops_cli.store import Store, registry
from mlops_cli.store import remotes as sql

# A renumbered version tries the remote's next numbers this often when others keep taking them.
RENUMBER_ATTEMPTS = 50


@dataclass
class Published:
    ref: str  # the local version
    remote_ref: str  # what the remote calls it
    digest: str
    status: str  # uploaded | present (the remote had it) | renumbered

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class PushResult:
    remote: dict[str, str]
    versions: list[Published] = field(default_factory=list)
    up_to_date: int = 0  # versions already published and recorded here
    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    events_uploaded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "versions": [v.to_dict() for v in self.versions],
            "up_to_date": self.up_to_date,
            "blobs_uploaded": self.blobs_uploaded,
            "bytes_uploaded": self.bytes_uploaded,
            "events_uploaded": self.events_uploaded,
        }


@dataclass
class _Candidate:
    name: str
    number: int
    digest: str
    remote_number: int | None = None  # None: the remote's next number (renumber)


def push(
    store: Store,
    refs: list[str],
    *,
    all_versions: bool = False,
    remote_name: str | None = None,
    renumber: bool = False,
    verify: bool = False,
    message: str | None = None,
    progress: ProgressSink | None = None,
) -> PushResult:
    """Publish the versions `refs` name (or all) to the remote; return what was done.

    With `verify`, every blob of the versions is re-hashed on the remote after the push (read
    back), and one that is missing or damaged there is uploaded again: a remote is repaired.

    Raises UsageError (no refs), NotFoundError (unknown ref or remote), VersionConflictError
    (exit 6, nothing uploaded when found up front), RemoteError (exit 4: unreachable, no
    credentials), IntegrityError (a damaged local blob or remote record).
    """
    wanted = _select(store, refs, all_versions)
    remote = open_remote(store, remote_name, create=True)
    result = PushResult(remote.describe())
    listings = {
        name: layout.numbered(remote.backend.list(layout.model_folder(name)))
        for name in {c.name for c in wanted}
    }
    to_upload = _plan(store, remote, wanted, listings, renumber, result)
    try:
        check = {(c.name, c.number) for c in [*to_upload, *(wanted if verify else [])]}
        versions = {key: registry.get_version(store.conn, ModelRef(*key)) for key in sorted(check)}
        if versions:
            _upload_blobs(store, remote, list(versions.values()), result, progress or NoProgress(), verify)
        origins, own = sql.creation_events(store.conn), sql.origin_id(store.conn)
        for candidate in to_upload:
            version = versions[(candidate.name, candidate.number)]
            origin = _origin(own, origins.get(version.ref), version.ref)
            result.versions.append(
                _publish(remote, candidate, version, origin, listings[candidate.name], renumber)
            )
    finally:  # what did land is recorded, also when a later version failed
        if result.versions:
            published = [v.to_dict() for v in result.versions]
            sql.record_push(store.conn, remote.config, remote.id, published, provenance(message))
    result.events_uploaded = upload_events(store, remote)
    return result


def _plan(
    store: Store,
    remote: Remote,
    wanted: list[_Candidate],
    listings: dict[str, set[int]],
    renumber: bool,
    result: PushResult,
) -> list[_Candidate]:
    """The versions to upload (each with its remote number, or None for the next free one).

    Counts those already published in `result` and raises the first conflict, before any upload.
    """
    mapping = sql.remote_numbers(store.conn, remote.id)
    todo: list[_Candidate] = []
    for candidate in wanted:
        known = mapping.get((candidate.name, candidate.number))
        if known and known[1] == candidate.digest and known[0] in listings[candidate.name]:
            result.up_to_date += 1
        else:
            todo.append(candidate)
    records = _RemoteRecords(remote)
    records.prefetch([(c.name, c.number) for c in todo if c.number in listings[c.name]])
    to_upload, conflicts = [], []
    for candidate in todo:
        if candidate.number not in listings[candidate.name]:
            candidate.remote_number = candidate.number
            to_upload.append(candidate)
        elif records.digest(candidate.name, candidate.number) == candidate.digest:
            result.versions.append(_published(candidate, candidate.number, "present"))
        elif renumber:
            same = records.find_digest(candidate.name, listings[candidate.name], candidate.digest)
            if same is not None:
                result.versions.append(_published(candidate, same, "present"))
            else:
                to_upload.append(candidate)  # remote_number None: the next free one
        else:
            conflicts.append(candidate)
    if conflicts:
        first = conflicts[0]
        raise _conflict(remote, first, records.digest(first.name, first.number), len(conflicts))
    return to_upload


def _select(store: Store, refs: list[str], all_versions: bool) -> list[_Candidate]:
    if all_versions and refs:
        raise UsageError("give REF... or --all, not both")
    if all_versions:
        numbers = sql.version_numbers(store.conn)
        return [_Candidate(n, v, d) for n in sorted(numbers) for v, d in sorted(numbers[n].items())]
    if not refs:
        raise UsageError("nothing to push", hint="give REF... (NAME, NAME:N, NAME@ALIAS) or --all")
    chosen: dict[tuple[str, int], _Candidate] = {}
    for ref in refs:
        version = registry.get_version(store.conn, ModelRef.parse(ref))
        chosen[(version.name, version.version)] = _Candidate(version.name, version.version, version.digest)
    return list(chosen.values())


def _published(candidate: _Candidate, remote_number: int, status: str) -> Published:
    return Published(
        f"{candidate.name}:{candidate.number}", f"{candidate.name}:{remote_number}", candidate.digest, status
    )


def _conflict(remote: Remote, candidate: _Candidate, theirs: str | None, count: int) -> VersionConflictError:
    more = f" (and {count - 1} more versions)" if count > 1 else ""
    ref = f"{candidate.name}:{candidate.number}"
    return VersionConflictError(
        f"remote {remote.name!r} already holds {ref} with digest {theirs}; this store's {ref} is"
        f" {candidate.digest}{more}; nothing was overwritten",
        hint=f"publish yours as the remote's next number: mlops push {ref} --renumber"
        f" (or pull theirs: mlops pull {ref} --remote {remote.name})",
    )


class _RemoteRecords:
    """Version records read from the remote, at most once each."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.cache: dict[tuple[str, int], dict[str, Any] | None] = {}

    def prefetch(self, keys: list[tuple[str, int]]) -> None:
        keys = [k for k in keys if k not in self.cache]
        for key, record in zip(keys, parallel(self._read, keys), strict=True):
            self.cache[key] = record

    def _read(self, key: tuple[str, int]) -> dict[str, Any] | None:
        path = layout.version_path(*key)
        data = self.remote.backend.read_bytes(path)
        return None if data is None else layout.parse_version(data, f"{self.remote.config.url}/{path}")

    def digest(self, name: str, number: int) -> str | None:
        if (name, number) not in self.cache:
            self.prefetch([(name, number)])
        record = self.cache[(name, number)]
        return record["state"]["digest"] if record else None

    def find_digest(self, name: str, numbers: set[int], digest: str) -> int | None:
        """The remote number that already holds `digest` under `name`, if any."""
        self.prefetch([(name, n) for n in sorted(numbers)])
        return next((n for n in sorted(numbers) if self.digest(name, n) == digest), None)


def _upload_blobs(
    store: Store,
    remote: Remote,
    versions: list[ModelVersion],
    result: PushResult,
    progress: ProgressSink,
    verify: bool,
) -> None:
    """Upload the blobs the remote lacks (by name and size); with `verify`, also those whose
    bytes there no longer hash to their name, and re-hash every uploaded one."""
    blobs = sorted({(f.digest, f.size) for v in versions for f in (*v.files, *v.datasets)})
    if verify:
        found = parallel(lambda blob: remote.backend.blob_digest(layout.blob_path(blob[0])), blobs)
        missing = [blob for blob, digest in zip(blobs, found, strict=True) if digest != blob[0]]
    else:
        sizes = parallel(lambda blob: remote.backend.blob_size(layout.blob_path(blob[0])), blobs)
        missing = [blob for blob, size in zip(blobs, sizes, strict=True) if size != blob[1]]
    for digest, size in missing:
        if not store.objects.has(digest, size):
            raise IntegrityError(
                f"blob {digest} is missing from this store; it cannot be pushed",
                hint="run `mlops audit verify`",
            )
    with progress.task(f"uploading to {remote.name}", sum(size for _, size in missing)) as advance:

        def upload(blob: tuple[str, int]) -> None:
            digest, size = blob
            remote.backend.upload(store.objects.path_for(digest), layout.blob_path(digest), digest, size)
            if verify and remote.backend.blob_digest(layout.blob_path(digest)) != digest:
                raise RemoteError(
                    f"blob {digest} arrived damaged on remote {remote.name!r}",
                    hint="push again with --verify",
                )
            advance(size)

        parallel(upload, missing)
    result.blobs_uploaded = len(missing)
    result.bytes_uploaded = sum(size for _, size in missing)


def _origin(own: str, created: tuple[int, str] | None, ref: str) -> dict[str, Any]:
    seq, hash_ = created or (None, None)
    return {"store": own, "seq": seq, "hash": hash_, "ref": ref}


def remote_state(version: ModelVersion, number: int) -> dict[str, Any]:
    """A version as its record on a remote states it: what `register` recorded, numbered there."""
    return {
        "name": version.name,
        "version": number,
        "digest": version.digest,
        "framework": version.framework,
        "size": version.size,
        "created_at": version.created_at,
        "created_by": version.created_by,
        "host": version.host,
        "source_path": version.source_path,
        "description": version.description,
        "message": version.message,
        "git": asdict(version.git) if version.git else None,
        "signature": version.signature,
        "metadata": version.metadata,
        "tags": version.tags,
        "alias": None,  # aliases are each store's own
        "datasets": [asdict(d) for d in version.datasets],
        "files": [[f.path, f.size, f.mode, f.digest] for f in version.files],
    }


def _publish(
    remote: Remote,
    candidate: _Candidate,
    version: ModelVersion,
    origin: dict[str, Any],
    numbers: set[int],
    renumber: bool,
) -> Published:
    """Create the version's record: at its own number, or (renumbering) at the next free one."""
    actor = provenance().actor
    if candidate.remote_number is not None:
        number = candidate.remote_number
        record = layout.version_record(remote_state(version, number), origin, actor)
        if remote.backend.create(layout.version_path(version.name, number), record):
            numbers.add(number)
            return _published(candidate, number, "uploaded")
        theirs = _RemoteRecords(remote).digest(version.name, number)
        if theirs == version.digest:
            return _published(candidate, number, "present")
        if not renumber:  # another machine published this number a moment ago
            raise _conflict(remote, candidate, theirs, 1)
    for _ in range(RENUMBER_ATTEMPTS):
        numbers |= layout.numbered(remote.backend.list(layout.model_folder(version.name)))
        number = max(numbers, default=0) + 1
        record = layout.version_record(remote_state(version, number), origin, actor)
        if remote.backend.create(layout.version_path(version.name, number), record):
            numbers.add(number)
            return _published(candidate, number, "renumbered")
        numbers.add(number)
    raise VersionConflictError(
        f"could not find a free number for {version.ref} on remote {remote.name!r} after"
        f" {RENUMBER_ATTEMPTS} attempts (others keep publishing)",
        hint="push again",
    )
