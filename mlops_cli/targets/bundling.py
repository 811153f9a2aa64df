"""Turning a registered version into a model bundle the server loads without the store.

The runtime loader materialises and verifies the version's files; this adds what the server
must know without `onnx` installed (class labels read from the graph) and writes the JSON.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import MlopsError
from mlops_cli.models.manage import show_version
from mlops_cli.runtime.graph import class_labels_from_graph
from mlops_cli.runtime.loader import ResolvedModel, resolve_onnx
from mlops_cli.serving.bundle import Bundle, write_bundle_file
from mlops_cli.store import Store
from mlops_cli.store.cas import hex_of


def serving_bundle(version: ModelVersion, resolved: ResolvedModel, root: Path) -> Bundle:
    signature = dict(resolved.signature)
    if not signature.get("class_labels"):
        labels = class_labels_from_graph(resolved.model_path)
        if labels:
            signature["class_labels"] = labels
    return Bundle(
        root=root,
        name=version.name,
        version=version.version,
        digest=version.digest,
        model_file=resolved.model_path.relative_to(resolved.root).as_posix(),
        signature=signature,
        git_commit=version.git.commit if version.git else None,
    )


def local_bundle(store: Store, ref: str) -> tuple[ModelVersion, Path]:
    """A bundle JSON in the store's cache pointing at the version's verified files.

    Returns the version and the JSON's path. Raises NotFoundError, UsageError (not ONNX) or
    StoreError (a corrupt blob) from the loader.
    """
    version = show_version(store, ref)
    resolved = resolve_onnx(store, version.ref)
    folder = store.paths.cache / "serving"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = write_bundle_file(
            serving_bundle(version, resolved, resolved.root), folder / f"{hex_of(version.digest)[:32]}.json"
        )
    except OSError as exc:
        raise MlopsError(f"cannot write the bundle file in {folder}: {exc.strerror or exc}") from exc
    return version, path


def copy_bundle(store: Store, version: ModelVersion, dest: Path) -> Bundle:
    """The version's files and `mlops-serving.json` in `dest` (the image's /model)."""
    resolved = resolve_onnx(store, version.ref)
    shutil.copytree(resolved.root, dest)
    bundle = serving_bundle(version, resolved, dest)
    write_bundle_file(bundle)
    return bundle
