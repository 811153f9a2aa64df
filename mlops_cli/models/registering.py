"""`mlops register`: files or folders in, a new immutable model version out."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_cli.audit.provenance import git_info, provenance
from mlops_cli.domain import (
    DatasetRecord,
    FileEntry,
    GitInfo,
    Manifest,
    ModelVersion,
    NoProgress,
    ProgressSink,
    validate_alias,
    validate_name,
)
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.models import environment
from mlops_cli.models.frameworks import detect_framework, validate_framework
from mlops_cli.models.signature import read_signature
from mlops_cli.sourcefiles import collect_files
from mlops_cli.store import Store, registry

if TYPE_CHECKING:
    from mlops_cli.environments.attach import EntryRequest

# register_model's default for `git`: look up the repository holding the registered path.
FROM_PATH = object()


def default_name(path: Path) -> str:
    """The name a model gets without --name: the file's stem (or folder's name), lower-cased."""
    # `register .` names the model after the folder (Path(".").name is "").
    path = path.absolute().resolve() if not path.name or path.name == ".." else path
    stem = path.name if path.is_dir() else path.stem
    name = stem.lower()
    try:
        return validate_name(name)
    except UsageError as exc:
        raise UsageError(f"cannot use {stem!r} as a model name", hint="pass --name NAME") from exc


def register_model(
    store: Store,
    path: Path,
    *,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    alias: str | None = None,
    description: str | None = None,
    framework: str | None = None,
    datasets: list[Path] | None = None,
    message: str | None = None,
    metadata: dict | None = None,
    signature: dict | None = None,
    source_path: str | None = None,
    action: str = "register",
    progress: ProgressSink | None = None,
    git: GitInfo | None | object = FROM_PATH,
    entry: EntryRequest | None = None,
) -> ModelVersion:
    """Store a model file or folder as the next version of `name` and return the version.

    `action` names the audit event (`convert` for a converted model). `source_path` overrides
    where the version is recorded as coming from (a derived model's
    files are written to a temp folder first; its real origin is the source version), and
    `git` the git provenance (default: the repository holding `path`; a derived model
    inherits its source's, which a temp folder would lose). `entry` adds an entry script, its
    code and environment (parsed and resolved, never run) under `mlops-entry/`.

    Raises UsageError for bad names/aliases/frameworks, MlopsError for unreadable input and
    StoreError when the store cannot be written; on any failure nothing is left behind.
    """
    name = validate_name(name) if name else default_name(path)
    if alias:
        validate_alias(alias)
    if framework:
        validate_framework(framework)
    progress = progress or NoProgress()
    files = collect_files(path, store_root=store.paths.root)
    dataset_paths = [_dataset_path(p) for p in datasets or []]
    framework = framework or detect_framework(path, [f.relative for f in files])
    if signature is None:
        signature = read_signature(framework, path, [f.relative for f in files])
    metadata = dict(metadata or {})

    with (
        _scratch(store, entry is not None) as scratch,
        _new_blobs_removed_on_failure(store) as (written, documents),
    ):
        if entry is not None:
            files, metadata = _with_entry(path, files, framework, entry, scratch, metadata)
        if "environment" not in metadata:  # the interpreter and distributions it came from
            env = environment.snapshot(store.objects, store.paths.cache)
            documents += [env.digest] if env.written else []
            metadata["environment"] = env.to_dict()
        entries = []
        total = sum(f.size for f in files) + sum(p.stat().st_size for p in dataset_paths)
        with progress.task(f"storing {path.name}", total) as advance:
            for source in files:
                put = store.objects.put_file(
                    source.absolute,
                    likely_present=registry.blob_size_known(store.conn, source.size),
                    progress=advance,
                )
                if put.written:
                    written.append(put.digest)
                entries.append(FileEntry(source.relative, put.size, source.mode, put.digest))
            records = []
            for dataset in dataset_paths:
                put = store.objects.put_file(
                    dataset,
                    likely_present=registry.blob_size_known(store.conn, dataset.stat().st_size),
                    progress=advance,
                )
                if put.written:
                    written.append(put.digest)
                records.append(DatasetRecord(str(dataset), put.digest, put.size))
        draft = registry.VersionDraft(
            name=name,
            manifest=Manifest(tuple(entries)),
            framework=framework,
            source_path=source_path or str(path.absolute()),
            description=description,
            signature=signature,
            tags=dict(tags or {}),
            alias=alias,
            datasets=tuple(records),
            metadata=metadata,
            git=git_info(path.absolute()) if git is FROM_PATH else git,
            action=action,
        )
        return registry.create_version(
            store.conn,
            draft,
            provenance(message),
            blob_exists=store.objects.has,
            write_record=store.records.write,
        )


def _with_entry(
    path: Path, files: list, framework: str, entry: EntryRequest, scratch: Path, metadata: dict | None
) -> tuple[list, dict]:
    """The model's files plus the entry script's, and metadata recording how to run them."""
    from mlops_cli.environments.attach import check_form, prepare_entry

    attachment = prepare_entry(
        path,
        files,
        entry.script,
        environment=entry.environment,
        requirements=entry.requirements,
        code=entry.code,
        scratch=scratch,
    )
    check_form(attachment, framework)
    return [*files, *attachment.files], {**(metadata or {}), "entry": attachment.metadata}


@contextmanager
def _scratch(store: Store, wanted: bool) -> Iterator[Path]:
    """A private temp folder in the store (for the entry's lock file), removed afterwards."""
    if not wanted:
        yield store.paths.tmp
        return
    store.paths.tmp.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="entry-", dir=store.paths.tmp))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _dataset_path(path: Path) -> Path:
    if not path.is_file():
        raise MlopsError(f"dataset {path}: no such file")
    return path.absolute()


@contextmanager
def _new_blobs_removed_on_failure(store: Store) -> Iterator[tuple[list[str], list[str]]]:
    """Yield lists to note newly written blobs in: files and datasets (rows of the blobs table),
    and documents a version's metadata names (its environment snapshot). On failure remove
    those nothing references.

    The check and removal run under the write lock, so a concurrent register that already
    adopted one of these blobs keeps it.
    """
    written: list[str] = []
    documents: list[str] = []
    try:
        yield written, documents
    except BaseException:
        try:
            if written:
                registry.remove_unreferenced_blobs(store.conn, written, store.objects.remove)
            if documents:
                registry.remove_unnamed_documents(store.conn, documents, store.objects.remove)
        except MlopsError:
            pass  # the store is unwritable: the original error says more than this one
        raise
