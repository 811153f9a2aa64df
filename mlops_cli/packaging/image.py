"""`mlops package`: a build context and an offline-built Docker image for a registered version.

The context holds only what serving needs: the model bundle, the `serving` (and `runtime`)
code of this package, and a wheelhouse of the pinned serving dependencies. The image is built
with the network off, and recorded with the version (an `image` artifact and audit event).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlops_cli
from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import ModelRef, ModelVersion
from mlops_cli.environments.together import check_together
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.packaging import dockerfile, platforms, wheels
from mlops_cli.packaging.bundling import copy_bundle
from mlops_cli.packaging.gpu import PROVIDERS as GPU_PROVIDERS
from mlops_cli.packaging.gpu import check_cuda_base, gpu_pins
from mlops_cli.packaging.imageref import validate_image_ref
from mlops_cli.packaging.platforms import Platform
from mlops_cli.store import Store, jobs
from mlops_cli.targets import docker

DEFAULT_BASE_IMAGE = dockerfile.DEFAULT_BASE_IMAGE
# The parts of this package the image carries: the server and the runtime it scores with.
IMAGE_CODE = ("__init__.py", "errors.py", "hashing.py", "relpaths.py", "serving", "runtime")
# The one runtime module that knows the store: the image never resolves references.
NOT_IN_IMAGE = ("loader.py",)
# `--with-batch`: what `python -m mlops_cli.batch.engines.shard` imports besides the above
# (score-batch --target kubernetes runs it in each pod); loader.py comes too.
BATCH_CODE = ("domain.py", "pids.py", "limits.py", "csvheader.py", "batch", "storage", "store", "audit")


@dataclass(frozen=True)
class PackageResult:
    """What `mlops package` made: the context folder (when kept) and the image (when built)."""

    ref: str
    digest: str
    image: str
    base_image: str
    context: str | None
    built: bool
    image_id: str | None = None
    size: int | None = None
    base_size: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    platform: str | None = None
    models: list[str] = field(default_factory=list)  # every version the image serves, `ref` first
    with_batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        added = self.size - self.base_size if self.size is not None and self.base_size is not None else None
        return {
            "ref": self.ref,
            "digest": self.digest,
            "image": self.image,
            "image_id": self.image_id,
            "size": self.size,
            "base_image": self.base_image,
            "base_size": self.base_size,
            "added_size": added,
            "built": self.built,
            "context": self.context,
            "labels": self.labels,
            "packages": self.packages,
            "platform": self.platform,
            "models": self.models or [self.ref],
            "with_batch": self.with_batch,
        }


def default_tag(version: ModelVersion, others: list[ModelVersion] | tuple = ()) -> str:
    """mlops-NAME:VERSION; a multi-model image: mlops-NAME-set:<12 hex of the set's digests>."""
    if not others:
        return f"mlops-{version.name}:{version.version}"
    digests = " ".join(v.digest for v in (version, *others))
    return f"mlops-{version.name}-set:{hashlib.sha256(digests.encode()).hexdigest()[:12]}"


def _set_labels(version: ModelVersion, others: list[ModelVersion] | tuple) -> dict[str, str]:
    """A multi-model image names every version it serves (mlops.model.* stay the first's)."""
    if not others:
        return {}
    every = (version, *others)
    return {
        "mlops.models": " ".join(v.ref for v in every),
        "mlops.models.digests": " ".join(v.digest for v in every),
    }


def labels_for(version: ModelVersion, others: list[ModelVersion] | tuple = ()) -> dict[str, str]:
    """OCI labels plus mlops.model.*; `created` is the version's time, so rebuilds match."""
    commit = version.git.commit if version.git and version.git.commit else ""
    labels = {
        "org.opencontainers.image.title": f"mlops-{version.name}",
        **_set_labels(version, others),
        "org.opencontainers.image.description": version.description or f"{version.ref} served by mlops",
        "org.opencontainers.image.version": str(version.version),
        "org.opencontainers.image.created": version.created_at,
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.vendor": "mlops",
        "mlops.model.name": version.name,
        "mlops.model.version": str(version.version),
        "mlops.model.digest": version.digest,
        "mlops.model.git.commit": commit,
    }
    if version.git and version.git.remote:
        labels["org.opencontainers.image.source"] = version.git.remote
    return labels


def write_context(
    store: Store,
    version: ModelVersion,
    dest: Path,
    base_image: str,
    wheel_source: Path | None = None,
    with_collect: bool = False,
    target: Platform | None = None,
    gpu: bool = False,
    others: list[ModelVersion] | tuple = (),
    with_batch: bool = False,
) -> tuple[dict[str, str], list[str]]:
    """Fill `dest` with Dockerfile, requirements.txt, wheels/, app/ and model/ (and, for the
    `others` served beside `version`, models/1, models/2, ...).

    Returns the labels and the pinned requirements.
    """
    serving = wheels.pins(with_collect=with_collect, with_batch=with_batch)
    with_env = next((v for v in (version, *others) if (v.entry or {}).get("environment")), version)
    pinned = with_environment(gpu_pins(serving) if gpu else serving, with_env)
    found = wheels.ensure_wheels(store.paths.cache / "wheels", pinned, wheel_source, target)
    wheels.copy_wheels(found, dest / "wheels")
    requirements = [f"{name}=={ver}" for name, ver in pinned]
    (dest / "requirements.txt").write_text("\n".join(requirements) + "\n")
    _copy_code(dest / "app" / "mlops_cli", with_batch)
    copy_bundle(store, version, dest / "model")
    for index, other in enumerate(others, start=1):
        copy_bundle(store, other, dest / dockerfile.more_model_dir(index))
    labels = labels_for(version, others)
    env = {"MLOPS_PROVIDERS": GPU_PROVIDERS} if gpu else None
    text = dockerfile.render(version.ref, version.digest, base_image, labels, env, len(others))
    (dest / "Dockerfile").write_text(text)
    return labels, requirements


def with_environment(serving: list[tuple[str, str]], version: ModelVersion) -> list[tuple[str, str]]:
    """The image's packages: an entry script's pinned environment, plus the server's own
    dependencies it does not pin (the version's pins win, as in a local environment)."""
    env = (version.entry or {}).get("environment") or {}
    pinned = [tuple(line.split("==", 1)) for line in env.get("pinned", [])]
    names = {wheels.normalise(name) for name, _ in pinned}
    return [*pinned, *((n, v) for n, v in serving if wheels.normalise(n) not in names)]


def code_files(with_batch: bool = False) -> list[tuple[str, Path]]:
    """(path under mlops_cli/, source file) of the serving code an image or bundle carries
    (and, `with_batch`, the batch code a score-batch shard runs)."""
    source = Path(mlops_cli.__file__).parent
    left_out = () if with_batch else NOT_IN_IMAGE
    found: list[tuple[str, Path]] = []
    for name in (*IMAGE_CODE, *(BATCH_CODE if with_batch else ())):
        path = source / name
        if path.is_file():
            found.append((name, path))
            continue
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(source)
            if file.is_file() and not _left_out(relative, left_out):
                found.append((relative.as_posix(), file))
    return found


def _left_out(relative: Path, names: tuple[str, ...]) -> bool:
    return "__pycache__" in relative.parts or relative.suffix == ".pyc" or relative.name in names


def _copy_code(dest: Path, with_batch: bool = False) -> None:
    for relative, source in code_files(with_batch):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def package(
    store: Store,
    ref: str,
    *,
    image: str | None = None,
    base_image: str = DEFAULT_BASE_IMAGE,
    output_dir: Path | None = None,
    build: bool = True,
    wheelhouse: Path | None = None,
    with_collect: bool = False,
    message: str | None = None,
    on_log: Callable[[str], None] = lambda line: None,
    platform: Platform | None = None,
    arch_suffix: bool = False,
    gpu: bool = False,
    more_refs: tuple[str, ...] = (),
    with_batch: bool = False,
) -> PackageResult:
    """Write the build context and (unless `build` is False) build and record the image.

    With `more_refs`, one image serves every version (each its own model, as `serve REF REF`),
    each verified against the trail and recorded with the image.

    Raises UsageError for an invalid --image/--base-image reference (checked first), a bad
    output folder or --no-build without --output-dir,
    ExternalToolError when pip or Docker fails (ImageBuildError with the log tail).
    """
    from mlops_cli.models.manage import verified_version
    from mlops_cli.runtime.loader import check_servable

    # Typos in image names fail here, before the store, pip or Docker is asked anything.
    if image is not None:
        validate_image_ref(image, "--image")
    validate_image_ref(base_image, "--base-image")
    # Rows checked against the trail before Docker or pip is asked anything; blobs as copied.
    version, *others = every = [verified_version(store, r) for r in (ref, *more_refs)]
    for each in every:  # a model that cannot be served fails here, before Docker or pip is asked
        check_servable(each)
    check_together(every)
    tag = image or default_tag(version, others)
    if not build and output_dir is None:
        raise UsageError("--no-build needs --output-dir: the context would be thrown away")
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise UsageError(f"--wheelhouse {wheelhouse} is not a folder")
    if output_dir is not None and output_dir.exists() and any(output_dir.iterdir()):
        raise UsageError(f"{output_dir} is not empty", hint="choose a new or empty folder")
    target = platform or platforms.host()
    if arch_suffix:  # one tag per platform when several are built at once
        tag = f"{tag}-{target.architecture}"
    base_size = None
    if build:
        platforms.require_emulation(target)  # a cross build's RUN steps run under qemu
        base = docker.inspect(base_image)  # fail early when the base is missing
        if base.architecture and base.architecture != target.architecture:
            raise UsageError(
                f"--base-image {base_image} is a linux/{base.architecture} image, not {target}",
                hint=f"give a {target} base image (scripts/emulation.sh builds a linux/arm64 one)",
            )
        if gpu:
            check_cuda_base(base_image, list(base.env))
        base_size = base.size
    context = output_dir or Path(tempfile.mkdtemp(prefix="package-", dir=_tmp_dir(store)))
    try:
        context.mkdir(parents=True, exist_ok=True)
        try:
            labels, requirements = write_context(
                store,
                version,
                context,
                base_image,
                wheelhouse,
                with_collect,
                target,
                gpu,
                others=others,
                with_batch=with_batch,
            )
        except OSError as exc:
            raise MlopsError(f"cannot write the build context in {context}: {exc.strerror or exc}") from exc
        if not build:
            return PackageResult(
                version.ref,
                version.digest,
                tag,
                base_image,
                str(context),
                False,
                labels=labels,
                packages=requirements,
                models=[v.ref for v in every],
            )
        image_id = docker.build(context, tag, on_log, None if target == platforms.host() else target.name)
        info = docker.inspect(image_id)
    finally:
        if output_dir is None:
            shutil.rmtree(context, ignore_errors=True)
    result = PackageResult(
        version.ref,
        version.digest,
        tag,
        base_image,
        str(output_dir) if output_dir else None,
        True,
        image_id=image_id,
        size=info.size,
        base_size=base_size,
        labels=labels,
        packages=requirements,
        platform=target.name,
        models=[v.ref for v in every],
        with_batch=with_batch,
    )
    details = {
        "tag": tag,
        "platform": target.name,
        "size": info.size,
        "base_image": base_image,
        "base_size": base_size,
        "packages": requirements,
        **({"models": [v.ref for v in every]} if others else {}),
        "with_batch": with_batch,  # score-batch --target kubernetes picks such an image
    }
    # Each version lists the image that serves it; all of them or none.
    refs = [ModelRef.parse(each.ref) for each in every]
    jobs.add_artifacts(store.conn, refs, "image", tag, image_id, details, provenance(message))
    return result


def _tmp_dir(store: Store) -> str:
    store.paths.tmp.mkdir(parents=True, exist_ok=True)
    return os.fspath(store.paths.tmp)
