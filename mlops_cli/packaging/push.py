"""`package --push`: the built images into a registry, several platforms as one image index.

The engine pushes each image (targets/docker.py); the index is put through the registry's HTTP
API (targets/registry.py), as `docker manifest` or buildx would, with no buildx needed. Also the
choice of one `--base-image` per platform, since the engine holds one image per tag.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.packaging import platforms
from mlops_cli.packaging.dockerfile import DEFAULT_BASE_IMAGE
from mlops_cli.packaging.image import PackageResult
from mlops_cli.packaging.imageref import validate_image_ref
from mlops_cli.packaging.platforms import Platform
from mlops_cli.targets import docker


def base_for(bases: list[str], target: Platform | None) -> str:
    """The base image for `target`: `--base-image` given once serves every platform; given once
    per platform, each platform takes the one of its architecture (the engine holds one image
    per tag, so a build for linux/amd64 and linux/arm64 needs two bases)."""
    if len(bases) <= 1:
        return bases[0] if bases else DEFAULT_BASE_IMAGE
    target = target or platforms.host()
    for base in bases:
        validate_image_ref(base, "--base-image")
        if docker.inspect(base).architecture == target.architecture:
            return base
    raise UsageError(
        f"none of the --base-image images ({', '.join(bases)}) is a {target} image",
        hint="give one --base-image per --platform (scripts/emulation.sh builds a linux/arm64 one)",
    )


def check_push(reference: str) -> None:
    """UsageError for a `--push` that is not REGISTRY/NAME[:TAG], before anything is built."""
    from mlops_cli.targets.registry import Repository

    validate_image_ref(reference, "--push")
    Repository.parse(reference)


def push_images(results: list[PackageResult], reference: str) -> dict[str, Any]:
    """Push the built images to `reference` (REGISTRY/NAME[:TAG]); returns what was pushed.

    One image is pushed under the tag. Several (one per platform) are pushed as TAG-ARCH, read
    back by digest, and one image index naming them all is put under the tag, so a pull on any
    of the platforms gets its own. Raises ExternalToolError when the engine or registry refuses.
    """
    from mlops_cli.packaging.image_index import PlatformManifest, image_index
    from mlops_cli.targets import registry

    repository, tag = registry.Repository.parse(reference)
    tag = tag or "latest"
    manifests = []
    for result in results:
        own_tag = tag if len(results) == 1 else f"{tag}-{platforms.parse(result.platform or '').architecture}"
        pushed = docker.push(result.image_id or result.image, repository.name, own_tag)
        digest = pushed.partition("@")[2]
        body, media_type = registry.get_manifest(repository, digest or own_tag)
        digest = digest or "sha256:" + hashlib.sha256(body).hexdigest()
        manifests.append(
            PlatformManifest(platforms.parse(result.platform or ""), digest, len(body), media_type)
        )
    if len(results) == 1:
        return {
            "reference": f"{repository.name}@{manifests[0].digest}",
            "index": None,
            "manifests": [m.to_dict() for m in manifests],
        }
    body, media_type = image_index(manifests)
    digest = registry.put_manifest(repository, tag, body, media_type)
    return {
        "reference": f"{repository.name}@{digest}",
        "index": {"tag": f"{repository.name}:{tag}", "digest": digest, "media_type": media_type},
        "manifests": [m.to_dict() for m in manifests],
    }
