"""targets/registry.py against a REAL registry (Docker's Distribution on 127.0.0.1, no engine
needed): an index put under a tag is read back byte for byte with its media type and digest;
what the registry refuses, and a registry that does not answer, are ExternalToolError (exit 4)."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from mlops_cli.errors import ExternalToolError
from mlops_cli.packaging.image_index import DOCKER_LIST, PlatformManifest, image_index
from mlops_cli.packaging.platforms import Platform
from mlops_cli.targets import registry
from tests.registry_helpers import running_registry
from tests.serving_helpers import free_port

pytestmark = pytest.mark.integration
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def address(tmp_path):
    yield from running_registry(tmp_path / "registry")


def _push_manifest(address: str) -> tuple[str, int]:
    """A schema-2 manifest of one tiny layer, with its blobs, as an engine would push it."""
    base = f"http://{address}/v2/edge/tiny"
    digests = {}
    for name, data in (("config", b'{"architecture":"arm64","os":"linux"}'), ("layer", b"tiny layer")):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{base}/blobs/uploads/")
        location = start.headers["location"]
        url = location if location.startswith("http") else f"http://{address}{location}"
        put = httpx.put(f"{url}{'&' if '?' in url else '?'}digest={digest}", content=data)
        assert put.status_code == 201, put.text
        digests[name] = (digest, len(data))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": digests["config"][0],
                "size": digests["config"][1],
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                    "digest": digests["layer"][0],
                    "size": digests["layer"][1],
                }
            ],
        }
    ).encode()
    answer = httpx.put(f"{base}/manifests/arm64", content=manifest, headers={"Content-Type": DOCKER_V2})
    assert answer.status_code == 201, answer.text
    return answer.headers["docker-content-digest"], len(manifest)


def test_an_index_is_put_and_read_back_as_written(address):
    digest, size = _push_manifest(address)
    repository, tag = registry.Repository.parse(f"{address}/edge/tiny:1")
    body, media_type = registry.get_manifest(repository, digest)
    assert (len(body), media_type, "sha256:" + hashlib.sha256(body).hexdigest()) == (size, DOCKER_V2, digest)
    index, index_type = image_index([PlatformManifest(Platform("linux", "arm64"), digest, size, media_type)])
    put = registry.put_manifest(repository, tag, index, index_type)
    assert put == "sha256:" + hashlib.sha256(index).hexdigest()
    again, again_type = registry.get_manifest(repository, tag)
    assert (again, again_type) == (index, DOCKER_LIST)


def test_what_the_registry_refuses_is_exit_4_with_its_words(address):
    repository, _ = registry.Repository.parse(f"{address}/edge/tiny:1")
    with pytest.raises(ExternalToolError, match="HTTP 404") as missing:
        registry.get_manifest(repository, "sha256:" + "0" * 64)
    assert missing.value.exit_code == 4
    index, index_type = image_index(
        [PlatformManifest(Platform("linux", "amd64"), "sha256:" + "1" * 64, 10, DOCKER_V2)]
    )
    with pytest.raises(ExternalToolError, match="refused PUT"):  # it names a manifest it lacks
        registry.put_manifest(repository, "1", index, index_type)


def test_a_registry_that_does_not_answer_is_exit_4():
    repository, _ = registry.Repository.parse(f"127.0.0.1:{free_port()}/edge/tiny:1")
    with pytest.raises(ExternalToolError, match="did not answer") as caught:
        registry.get_manifest(repository, "1")
    assert caught.value.exit_code == 4
