"""An image index (OCI) or manifest list (Docker): one tag naming one image per platform, so a
`docker pull` on either architecture gets its own. Plain data: the registry client sends it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlops_cli.packaging.platforms import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# The CPU variant the engine matches arm64 images against (as `docker manifest` writes it).
_VARIANTS = {"arm64": "v8"}


@dataclass(frozen=True)
class PlatformManifest:
    """One platform's pushed image manifest: what the index says about it."""

    platform: Platform
    digest: str
    size: int
    media_type: str

    def to_dict(self) -> dict:
        platform = {"architecture": self.platform.architecture, "os": self.platform.os}
        if self.platform.architecture in _VARIANTS:
            platform["variant"] = _VARIANTS[self.platform.architecture]
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, "platform": platform}


def image_index(manifests: list[PlatformManifest]) -> tuple[bytes, str]:
    """The index's bytes and media type: an OCI index over OCI manifests, else the Docker
    manifest list the engine's own (Docker schema 2) manifests belong in."""
    oci = all(m.media_type.startswith("application/vnd.oci.") for m in manifests)
    media_type = OCI_INDEX if oci else DOCKER_LIST
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": [m.to_dict() for m in manifests]}
    return json.dumps(document, indent=2).encode(), media_type
