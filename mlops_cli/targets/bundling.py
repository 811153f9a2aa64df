"""Turning a registered version into a model bundle folder the server can load on its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.models.manage import show_version
from mlops_cli.serving.bundle import BUNDLE_FILE, Bundle, read_bundle, write_bundle_file
from mlops_cli.store import Store
from mlops_cli.store.cas import hex_of


def model_file(version: ModelVersion) -> str:
    """The ONNX file a version is served from; UsageError when it has none."""
    if version.framework != "onnx":
        raise UsageError(
            f"{version.ref} is a {version.framework} model; serving needs ONNX",
            hint=f"convert it first: mlops convert {version.ref}",
        )
    candidates = [f.path for f in version.files if f.path.endswith(".onnx")]
    if not candidates:
        raise UsageError(f"{version.ref} has no .onnx file")
    return "model.onnx" if "model.onnx" in candidates else sorted(candidates)[0]


def bundle_for(store: Store, ref: str) -> tuple[ModelVersion, Bundle]:
    """The bundle of `ref` in the store's cache (`cache/serving/<digest>/`), written once.

    The folder is filled beside its final name and renamed, so a half-written bundle is never
    used; blobs are verified as they are copied.
    """
    version = show_version(store, ref)
    entry = model_file(version)
    root = store.paths.cache / "serving" / hex_of(version.digest)[:32]
    if (root / BUNDLE_FILE).is_file():
        return version, read_bundle(root)
    staging = root.parent / f".{root.name}.{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        copy_files(store, version, staging)
        bundle = Bundle(
            root=staging,
            name=version.name,
            version=version.version,
            digest=version.digest,
            model_file=entry,
            signature=version.signature or {},
            git_commit=version.git.commit if version.git else None,
        )
        write_bundle_file(bundle)
        try:
            os.replace(staging, root)
        except OSError:  # another process finished first: use its copy
            if not (root / BUNDLE_FILE).is_file():
                raise
    except OSError as exc:
        raise MlopsError(f"cannot write the model bundle under {root}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version, read_bundle(root)


def copy_files(store: Store, version: ModelVersion, dest: Path) -> None:
    for entry in version.files:
        target = dest / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        store.objects.materialise(entry.digest, entry.size, target, entry.mode)
