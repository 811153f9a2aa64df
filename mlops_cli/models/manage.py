"""Listing, showing, tagging, aliasing, downloading and deleting model versions."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import (
    ModelRef,
    ModelSummary,
    ModelVersion,
    NoProgress,
    ProgressSink,
    parse_tag,
    validate_alias,
    validate_name,
    validate_tag_key,
)
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.relpaths import check_stored_path, safe_join
from mlops_cli.store import Store, registry
from mlops_cli.store.integrity import check_version


def list_models(store: Store) -> list[ModelSummary]:
    return registry.list_models(store.conn)


def show_version(store: Store, ref: str) -> ModelVersion:
    """The full record of a version; NotFoundError (with near names) when it does not exist."""
    return registry.get_version(store.conn, ModelRef.parse(ref))


def verified_version(store: Store, ref: str) -> ModelVersion:
    """The version `ref` names, after checking its files are the ones registered.

    Every command that hands out or uses a version's files (download, serve, score-batch,
    convert, package) gets it through here; each blob is then checked against the manifest as
    it is copied. Raises NotFoundError, or IntegrityError (exit 5) when the rows no longer
    match the audit trail.
    """
    version = show_version(store, ref)
    check_version(store.conn, version)
    return version


def list_versions(store: Store, name: str) -> list[ModelVersion]:
    return registry.list_versions(store.conn, validate_name(name))


def tag_version(store: Store, ref: str, pairs: list[str], message: str | None = None) -> ModelVersion:
    if not pairs:
        raise UsageError("give at least one KEY=VALUE")
    tags = dict(parse_tag(p) for p in pairs)
    return registry.set_tags(store.conn, ModelRef.parse(ref), tags, provenance(message))


def untag_version(store: Store, ref: str, keys: list[str], message: str | None = None) -> ModelVersion:
    if not keys:
        raise UsageError("give at least one KEY")
    for key in keys:
        validate_tag_key(key)
    return registry.remove_tags(store.conn, ModelRef.parse(ref), keys, provenance(message))


@dataclass(frozen=True)
class AliasChange:
    name: str
    alias: str
    version: int
    previous_version: int | None


def alias_version(store: Store, ref: str, alias: str, message: str | None = None) -> AliasChange:
    """Point ALIAS at the version; it moves if it pointed elsewhere."""
    validate_alias(alias)
    version, before = registry.set_alias(store.conn, ModelRef.parse(ref), alias, provenance(message))
    return AliasChange(version.name, alias, version.version, before)


def unalias(store: Store, name: str, alias: str, message: str | None = None) -> AliasChange:
    validate_name(name)
    validate_alias(alias)
    version = registry.remove_alias(store.conn, name, alias, provenance(message))
    return AliasChange(name, alias, version, None)


@dataclass(frozen=True)
class Download:
    ref: str
    digest: str
    output: str
    files: int
    size: int


def download_version(
    store: Store, ref: str, output: Path, *, force: bool = False, progress: ProgressSink | None = None
) -> Download:
    """Write a version's files under `output`, verifying every blob's digest as it is copied.

    Files are written to a temporary folder beside `output` and moved in at the end, so a
    failed download leaves nothing half-written.
    """
    version = verified_version(store, ref)
    output = output.absolute()
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} exists and is not a folder")
    if output.exists() and any(output.iterdir()) and not force:
        raise UsageError(f"{output} is not empty", hint="choose an empty folder or pass --force")
    for entry in version.files:  # before anything is written
        check_stored_path(entry.path)
    staging = output.parent / f".{output.name}.mlops-download-{os.getpid()}"
    progress = progress or NoProgress()
    try:
        staging.mkdir(parents=True)
        with progress.task(f"downloading {version.ref}", version.size) as advance:
            for entry in version.files:
                dest = safe_join(staging, entry.path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                store.objects.materialise(entry.digest, entry.size, dest, entry.mode)
                advance(entry.size)
        output.mkdir(parents=True, exist_ok=True)
        for entry in version.files:
            target = safe_join(output, entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(safe_join(staging, entry.path), target)
    except OSError as exc:
        raise MlopsError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Download(version.ref, version.digest, str(output), len(version.files), version.size)


def _refuse_unfinished_jobs(store: Store, version: ModelVersion) -> None:
    """A resumable job (score-batch) needs the version's files: removing it would strand the
    job's parts with nothing to resume them. The job is named, to finish first."""
    from mlops_cli.store.jobs import unfinished_jobs_of

    jobs = unfinished_jobs_of(store.conn, version.ref, version.digest)
    if jobs:
        job = jobs[0]
        more = f" (and {len(jobs) - 1} more)" if len(jobs) > 1 else ""
        raise UsageError(
            f"{version.ref} has an unfinished {job.kind} job {job.id} ({job.status}){more}",
            hint=f"finish it first: `mlops {job.kind} --resume {job.id}`",
        )


def remove_version(store: Store, ref: str, message: str | None = None) -> tuple[ModelVersion, int]:
    """Delete a version's record; blobs go only when nothing references them any more.

    Returns the deleted version and the number of blobs removed. UsageError when a live
    deployment serves the version.
    """
    from mlops_cli.store.deployments import rollback_targets_of

    if not ModelRef.parse(ref).is_latest:
        target = show_version(store, ref)
        uses = rollback_targets_of(store.conn, target.name, target.version)
        if uses:
            live = sorted({u["name"] for u in uses if u["live"]})
            back = [f"{u['name']} (revision {u['revision']})" for u in uses if not u["live"]]
            why = [f"is serving in deployment(s) {', '.join(live)}"] if live else []
            why += [f"is a rollback target of {', '.join(back)}"] if back else []
            raise UsageError(
                f"{target.ref} {' and '.join(why)}",
                hint="switch or delete those deployments first (`mlops deploy delete NAME`)",
            )
        _refuse_unfinished_jobs(store, target)
    version, orphans = registry.delete_version(
        store.conn, ModelRef.parse(ref), provenance(message), store.trash_blobs
    )
    store.empty_trash()
    store.records.remove(version.ref)
    return version, len(orphans)
