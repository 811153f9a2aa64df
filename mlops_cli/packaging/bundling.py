"""Turning a registered version into a model bundle the server loads without the store.

The runtime loader materialises and verifies the version's files; this adds what the server
must know without `onnx` installed (class labels read from the graph) and writes the JSON.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import MlopsError
from mlops_cli.models.manage import show_version
from mlops_cli.runtime.loader import ResolvedModel, materialise_version, resolve_onnx
from mlops_cli.serving.bundle import Bundle, write_bundle_file
from mlops_cli.store import Store
from mlops_cli.store.cas import hex_of


def serving_bundle(version: ModelVersion, resolved: ResolvedModel, root: Path) -> Bundle:
    # resolve_onnx has read the graph's class labels already (cached per version): reading them
    # again here imported onnx (0.7 s) on every serve, deploy and bundle of a model without any.
    signature = dict(resolved.signature)
    return Bundle(
        root=root,
        name=version.name,
        version=version.version,
        digest=version.digest,
        model_file=resolved.model_path.relative_to(resolved.root).as_posix(),
        signature=signature,
        git_commit=version.git.commit if version.git else None,
        entry=version.entry,
    )


def resolve_for_serving(store: Store, version: ModelVersion) -> tuple[Path, Callable[[Path], Bundle]]:
    """The version's verified files, and how to describe them as a bundle rooted elsewhere.

    An Azure-form entry script loads its own model files: no ONNX graph is needed.
    """
    if version.runs_own_model:
        _, root = materialise_version(store, version.ref)

        def script_bundle(at: Path) -> Bundle:
            return Bundle(
                root=at,
                name=version.name,
                version=version.version,
                digest=version.digest,
                model_file="",
                git_commit=version.git.commit if version.git else None,
                entry=version.entry,
            )

        return root, script_bundle
    resolved = resolve_onnx(store, version.ref)
    return resolved.root, lambda at: serving_bundle(version, resolved, at)


def local_bundle(store: Store, ref: str) -> tuple[ModelVersion, Path]:
    """A bundle JSON in the store's cache pointing at the version's verified files.

    Returns the version and the JSON's path. Raises NotFoundError, UsageError (not ONNX) or
    StoreError (a corrupt blob) from the loader.
    """
    version = show_version(store, ref)
    root, describe = resolve_for_serving(store, version)
    folder = store.paths.cache / "serving"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = write_bundle_file(describe(root), folder / f"{hex_of(version.digest)[:32]}.json")
    except OSError as exc:
        raise MlopsError(f"cannot write the bundle file in {folder}: {exc.strerror or exc}") from exc
    return version, path


def copy_bundle(store: Store, version: ModelVersion, dest: Path) -> Bundle:
    """The version's files and `mlops-serving.json` in `dest` (the image's /model)."""
    root, describe = resolve_for_serving(store, version)
    shutil.copytree(root, dest)
    bundle = describe(dest)
    write_bundle_file(bundle)
    return bundle
