"""The image index `package --push` puts under the tag, and how a --push reference is read."""

from __future__ import annotations

import json

import pytest

from mlops_cli.errors import UsageError
from mlops_cli.packaging.image_index import DOCKER_LIST, OCI_INDEX, PlatformManifest, image_index
from mlops_cli.packaging.platforms import Platform
from mlops_cli.targets.registry import Repository

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_V1 = "application/vnd.oci.image.manifest.v1+json"


def _manifest(arch: str, media_type: str) -> PlatformManifest:
    return PlatformManifest(Platform("linux", arch), f"sha256:{arch[0] * 64}", 1158, media_type)


def test_engine_manifests_go_in_a_docker_manifest_list_with_platforms():
    body, media_type = image_index([_manifest("amd64", DOCKER_V2), _manifest("arm64", DOCKER_V2)])
    document = json.loads(body)
    assert media_type == DOCKER_LIST == document["mediaType"] and document["schemaVersion"] == 2
    assert [m["platform"] for m in document["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert document["manifests"][1] == {
        **document["manifests"][1],
        "digest": "sha256:" + "a" * 64,
        "size": 1158,
    }


def test_oci_manifests_go_in_an_oci_index():
    _, media_type = image_index([_manifest("amd64", OCI_V1), _manifest("arm64", OCI_V1)])
    assert media_type == OCI_INDEX


@pytest.mark.parametrize(
    ("reference", "base_url", "tag"),
    [
        ("127.0.0.1:5000/edge/clf:1", "http://127.0.0.1:5000/v2/edge/clf", "1"),
        ("localhost:5000/clf", "http://localhost:5000/v2/clf", None),
        ("registry.example.com/team/clf:3", "https://registry.example.com/v2/team/clf", "3"),
    ],
)
def test_push_references(reference, base_url, tag):
    repository, found = Repository.parse(reference)
    assert (repository.base_url, found) == (base_url, tag)


def test_a_push_reference_without_a_registry_or_with_a_digest_is_a_usage_error():
    with pytest.raises(UsageError, match="names no registry"):
        Repository.parse("team/clf:1")
    with pytest.raises(UsageError, match="names a digest"):
        Repository.parse("127.0.0.1:5000/clf@sha256:" + "a" * 64)
