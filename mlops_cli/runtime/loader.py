"""A registered ONNX version resolved to verified files on disk, ready for a session.

The only runtime module that knows the store: serving and packaging call it before they start,
then hand the paths and signature to code that never imports the store.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import IntegrityError, MlopsError, StoreError, UsageError
from mlops_cli.relpaths import check_stored_path, safe_join
from mlops_cli.runtime.graph import class_labels_from_graph
from mlops_cli.store import Store


@dataclass(frozen=True)
class ResolvedModel:
    """A version's files materialised and verified: what a session and a schema are made from."""

    ref: str  # NAME:N, whatever alias or `latest` the user gave
    digest: str  # the version's manifest digest
    model_digest: str  # the .onnx file's blob digest: the session cache key
    model_path: Path
    root: Path  # the folder holding every file of the version (external data sits beside)
    signature: dict[str, Any]

    @property
    def feature_names(self) -> list[str] | None:
        return self.signature.get("feature_names")

    @property
    def class_labels(self) -> list[Any] | None:
        return self.signature.get("class_labels")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "digest": self.digest,
            "model_digest": self.model_digest,
            "model_path": str(self.model_path),
            "signature": self.signature,
        }


def onnx_entry(version: ModelVersion) -> str:
    """The path of the version's ONNX file; UsageError when the version is not an ONNX model."""
    candidates = [f.path for f in version.files if f.path.endswith(".onnx")]
    if version.runs_own_model:
        raise UsageError(
            f"{version.ref} runs through its entry script's run(), not an ONNX graph; this command"
            " runs ONNX graphs only",
            hint=f"serve, deploy or package it; `mlops score-batch {version.ref}` scores it (local engine)",
        )
    if version.framework != "onnx" or not candidates:
        raise UsageError(
            f"{version.ref} is a {version.framework} model, not ONNX; scoring runs ONNX models only",
            hint=f"run `mlops convert {version.ref}` first and use the ONNX version it registers",
        )
    if len(candidates) == 1:
        return candidates[0]
    named = [p for p in candidates if Path(p).name == "model.onnx"]
    if len(named) == 1:
        return named[0]
    raise UsageError(
        f"{version.ref} holds several ONNX files ({', '.join(candidates)}); cannot tell which to run"
    )


def check_servable(version: ModelVersion) -> None:
    """UsageError unless a server can run the version: an ONNX graph, or an Azure-form entry
    script, which loads its model itself."""
    if not version.runs_own_model:
        onnx_entry(version)


def resolve_onnx(store: Store, ref: str, cache_dir: Path | None = None) -> ResolvedModel:
    """Resolve `ref` to its ONNX files, materialised under the store's cache and verified.

    Files are copied out of the blob store with their digests checked as they are copied; a
    cached copy is re-hashed before use, and replaced when it no longer matches. Raises
    NotFoundError for an unknown reference, UsageError for a non-ONNX version and
    IntegrityError (exit 5) for rows that no longer match the trail or a missing or corrupt blob.
    """
    version, root = materialise_version(store, ref, cache_dir)
    entry = onnx_entry(version)
    model_file = next(f for f in version.files if f.path == entry)
    signature = dict(version.signature or {})
    if signature.get("class_labels") is None:
        labels = _graph_class_labels(root / entry, root.parent / f"{root.name}.class-labels.json")
        if labels is not None:
            signature["class_labels"] = labels
    return ResolvedModel(version.ref, version.digest, model_file.digest, root / entry, root, signature)


def materialise_version(store: Store, ref: str, cache_dir: Path | None = None) -> tuple[ModelVersion, Path]:
    """The version and the cache folder holding its verified files, whatever the framework
    (an entry-script version runs its own model files). Raises as `resolve_onnx`."""
    from mlops_cli.models.manage import verified_version

    version = verified_version(store, ref)
    root = (cache_dir or store.paths.cache / "models") / version.digest.replace(":", "-")
    if not _cached_copy_intact(store, version, root):
        _materialise(store, version, root)
    return version, root


def _graph_class_labels(model_path: Path, cache: Path) -> list[Any] | None:
    """Class labels read from the graph once per version (parsing needs `onnx`, slow to import)."""
    try:
        return json.loads(cache.read_text())["class_labels"]
    except (OSError, ValueError, KeyError):
        pass
    labels = class_labels_from_graph(model_path)
    try:
        cache.write_text(json.dumps({"class_labels": labels}))
    except OSError:
        pass  # a read-only cache only costs the next run the same lookup
    return labels


def _cached_copy_intact(store: Store, version: ModelVersion, root: Path) -> bool:
    if not root.is_dir():
        return False
    for entry in version.files:
        path = safe_join(root, entry.path)
        try:
            if path.stat().st_size != entry.size:
                return False
        except FileNotFoundError:
            return False
        digest, _ = store.objects.hash_file(path)
        if digest != entry.digest:
            return False
    return True


def _materialise(store: Store, version: ModelVersion, root: Path) -> None:
    """Copy every file into a temp folder beside `root`, then swap it in with one rename."""
    for entry in version.files:  # before anything is written
        check_stored_path(entry.path)
    staging = root.parent / f".{root.name}.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        staging.mkdir(parents=True)
        for entry in version.files:
            dest = safe_join(staging, entry.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            store.objects.materialise(entry.digest, entry.size, dest, entry.mode)
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
        try:
            os.replace(staging, root)
        except OSError:
            if not root.is_dir():  # another process won the race with the same content
                raise
    except (StoreError, IntegrityError):
        raise
    except OSError as exc:
        raise MlopsError(
            f"cannot materialise {version.ref} under {root.parent}: {exc.strerror or exc}"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
