"""`mlops pull`: bring versions from a remote into this store, verified before anything lands.

Every blob is hashed as it is downloaded into the store's tmp/; records, events and blobs are
all checked before one transaction adds the versions (each with a `pull` event naming its
origin) and the other stores' events. A failure leaves the store as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import ModelRef, NoProgress, ProgressSink
from mlops_cli.errors import IntegrityError, MlopsError, NotFoundError, UsageError
from mlops_cli.remote import layout
from mlops_cli.remote.connection import Remote, open_remote, parallel
from mlops_cli.remote.trail import download_events
from mlops_cli.store import Store, registry
from mlops_cli.store import remotes as sql


@dataclass
class PulledVersion:
    ref: str  # the local version
    remote_ref: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"ref": self.ref, "remote_ref": self.remote_ref, "digest": self.digest}


@dataclass
class PullResult:
    remote: dict[str, str]
    versions: list[PulledVersion] = field(default_factory=list)
    up_to_date: int = 0
    blobs_downloaded: int = 0
    bytes_downloaded: int = 0
    events_pulled: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "versions": [v.to_dict() for v in self.versions],
            "up_to_date": self.up_to_date,
            "blobs_downloaded": self.blobs_downloaded,
            "bytes_downloaded": self.bytes_downloaded,
            "events_pulled": self.events_pulled,
            "notes": self.notes,
        }


def pull(
    store: Store,
    refs: list[str],
    *,
    all_versions: bool = False,
    remote_name: str | None = None,
    progress: ProgressSink | None = None,
) -> PullResult:
    """Pull the versions `refs` name (NAME, NAME:N, NAME:latest) or all of them; return what came.

    Raises UsageError, NotFoundError (no such remote, model or version there), RemoteError
    (exit 4), IntegrityError (exit 5: a damaged or missing blob, record or event on the remote).
    """
    remote = open_remote(store, remote_name, create=False)
    result = PullResult(remote.describe())
    wanted = _select(remote, refs, all_versions)
    local = sql.version_numbers(store.conn)
    mapped = {key: sql.local_for_remote(store.conn, remote.id, *key) for key in wanted}
    todo = [key for key in wanted if mapped[key] is None or mapped[key] not in local.get(key[0], {})]
    result.up_to_date = len(wanted) - len(todo)
    records = parallel(lambda key: _read_version(remote, *key), todo)
    plan, present = _number(store, records, local)
    events = download_events(store, remote)
    staging = store.paths.tmp / f"{os.getpid()}-pull-{secrets.token_hex(4)}"
    adopted: list[str] = []
    try:
        staged = _download_blobs(store, remote, [state for state, _, _ in plan], staging, result, progress)
        for digest, temp in staged:
            if store.objects.adopt(temp, digest):
                adopted.append(digest)  # removed again if the pull fails before its commit
        pulled = sql.import_versions(
            store.conn,
            remote.config,
            remote.id,
            plan,
            present,
            events,
            provenance(),
            blob_exists=store.objects.has,
            write_record=store.records.write,
        )
    except BaseException:
        if adopted:
            try:
                registry.remove_unreferenced_blobs(store.conn, adopted, store.objects.remove)
            except MlopsError:
                pass  # gc removes them later; the pull's own error is the one to report
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.events_pulled = len(events)
    origins = {origin for origin, _ in events} | set(sql.pulled_origins(store.conn))
    for version, (state, _, origin) in zip(pulled, plan, strict=True):
        result.versions.append(
            PulledVersion(version.ref, f"{state['name']}:{state['version']}", version.digest)
        )
        if version.version != state["version"]:
            result.notes.append(
                f"remote {state['name']}:{state['version']} was pulled as {version.ref}: this store's"
                f" {state['name']}:{state['version']} is another version"
            )
        if origin.get("store") not in origins and origin.get("store") != sql.origin_id(store.conn):
            result.notes.append(
                f"{version.ref}: the events of the store that pushed it are not on the remote"
            )
    return result


def _select(remote: Remote, refs: list[str], all_versions: bool) -> list[tuple[str, int]]:
    """(name, remote number) of every version asked for."""
    if all_versions and refs:
        raise UsageError("give REF... or --all, not both")
    if all_versions:
        names = sorted(remote.backend.list("models"))
        listings = parallel(
            lambda name: layout.numbered(remote.backend.list(layout.model_folder(name))), names
        )
        return [(name, n) for name, numbers in zip(names, listings, strict=True) for n in sorted(numbers)]
    if not refs:
        raise UsageError("nothing to pull", hint="give REF... (NAME, NAME:N) or --all")
    chosen: list[tuple[str, int]] = []
    for text in refs:
        ref = ModelRef.parse(text)
        if ref.alias:
            raise UsageError(
                f"{text}: aliases are each store's own and are not published",
                hint=f"pull {ref.name}:N or {ref.name} (the remote's latest)",
            )
        numbers = layout.numbered(remote.backend.list(layout.model_folder(ref.name)))
        if not numbers:
            raise NotFoundError(
                f"remote {remote.name!r} has no model {ref.name!r}", hint="see its models: mlops pull --all"
            )
        number = ref.version if ref.version is not None else max(numbers)
        if number not in numbers:
            raise NotFoundError(
                f"remote {remote.name!r} has no {ref.name}:{number}",
                hint=f"it holds {ref.name}:{max(numbers)} at most",
            )
        if (ref.name, number) not in chosen:
            chosen.append((ref.name, number))
    return chosen


def _read_version(remote: Remote, name: str, number: int) -> dict[str, Any]:
    path = layout.version_path(name, number)
    data = remote.backend.read_bytes(path)
    if data is None:
        raise NotFoundError(f"remote {remote.name!r} has no {name}:{number}")
    record = layout.parse_version(data, f"{remote.config.url}/{path}")
    state = record["state"]
    if state.get("name") != name or state.get("version") != number:
        raise IntegrityError(f"{remote.config.url}/{path} names {state.get('name')}:{state.get('version')}")
    return record


def _number(store: Store, records: list[dict[str, Any]], local: dict[str, dict[int, str]]):
    """(state, local number, origin) for each version to add, and (name, remote, local, digest)
    for those this store already holds under the same number."""
    plan, present = [], []
    assigned: dict[str, set[int]] = {}  # local numbers this pull gives, per model
    for record in records:
        state, name = record["state"], record["state"]["name"]
        there = local.get(name, {})
        if there.get(state["version"]) == state["digest"]:
            present.append((name, state["version"], state["version"], state["digest"]))
            continue
        same = next((n for n, d in there.items() if d == state["digest"]), None)
        if same is not None:  # this store holds it under another number (a renumbered push)
            present.append((name, state["version"], same, state["digest"]))
            continue
        given = assigned.setdefault(name, set())
        number = state["version"]
        if number in there or number in given:
            number = max(sql.next_free_number(store.conn, name), *(n + 1 for n in given), 1)
        given.add(number)
        plan.append((state, number, record.get("origin") or {}))
    return plan, present


def _download_blobs(
    store: Store,
    remote: Remote,
    states: list[dict[str, Any]],
    staging: Path,
    result: PullResult,
    progress: ProgressSink | None,
) -> list[tuple[str, Path]]:
    """Download the blobs this store lacks into `staging`, each verified; (digest, temp file)."""
    blobs = sorted(
        {(f[3], f[1]) for s in states for f in s["files"]}
        | {(d["digest"], d["size"]) for s in states for d in s["datasets"]}
    )
    missing = [(d, s) for d, s in blobs if not store.objects.has(d, s)]
    if not missing:
        return []
    staging.mkdir(parents=True, mode=0o700)
    with (progress or NoProgress()).task(
        f"downloading from {remote.name}", sum(s for _, s in missing)
    ) as advance:

        def download(blob: tuple[str, int]) -> tuple[str, Path]:
            digest, size = blob
            temp = staging / f"{layout.blob_path(digest).replace('/', '-')}.part"
            path = layout.blob_path(digest)
            try:
                with open(temp, "xb") as dest:
                    actual, copied = remote.backend.download(path, dest)
                    dest.flush()
                    os.fsync(dest.fileno())
            except FileNotFoundError:
                raise IntegrityError(
                    f"blob {digest} is missing on remote {remote.name!r}",
                    hint="push it again from a store that has it: mlops push --all",
                ) from None
            if actual != digest or copied != size:
                raise IntegrityError(
                    f"blob {digest} on remote {remote.name!r} is corrupt"
                    f" ({copied} bytes hashing to {actual})",
                    hint="nothing was pulled; repair the remote from a store that has it intact:"
                    " mlops push --all --verify",
                )
            advance(size)
            return digest, temp

        staged = parallel(download, missing)
    result.blobs_downloaded = len(missing)
    result.bytes_downloaded = sum(size for _, size in missing)
    return staged
