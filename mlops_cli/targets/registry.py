"""A registry's HTTP API (the OCI distribution spec), for what the docker SDK cannot do: read a
pushed manifest and put an image index (manifest list) that names one image per platform.

The engine pushes each platform's image; this module then reads each manifest back by digest
(its size and media type go into the index) and puts the index under the tag. Registries on
127.0.0.0/8 or localhost are plain HTTP, as the engine treats them; any other is HTTPS. A 401
is answered with the registry's token flow (anonymous, or the credentials `docker login` stored).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.errors import ExternalToolError, MissingDependencyError, UsageError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
TIMEOUT = 60


@dataclass(frozen=True)
class Repository:
    """`host[:port]/path` of a registry repository."""

    host: str
    path: str

    @classmethod
    def parse(cls, reference: str) -> tuple[Repository, str | None]:
        """`HOST/NAME[:TAG]` -> (repository, tag or None); UsageError without a registry host
        or with a digest (a push names a tag: the digest is what it returns)."""
        if "@" in reference:
            raise UsageError(f"--push {reference!r} names a digest", hint="give REGISTRY/NAME:TAG")
        name, _, tag = (
            reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
        )
        host, _, path = name.partition("/")
        if not path or not ("." in host or ":" in host or host == "localhost"):
            raise UsageError(
                f"--push {reference!r} names no registry",
                hint="give REGISTRY/NAME:TAG, e.g. registry.example.com/churn:3 or 127.0.0.1:5000/churn:3",
            )
        return cls(host, path), tag or None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def base_url(self) -> str:
        bare = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host
        local = bare == "localhost" or bare.startswith("127.") or bare == "[::1]"
        return f"{'http' if local else 'https'}://{self.host}/v2/{self.path}"


def get_manifest(repository: Repository, reference: str) -> tuple[bytes, str]:
    """The manifest stored under `reference` (a tag or digest): its exact bytes and media type."""
    response = _call(
        repository, "GET", f"/manifests/{reference}", headers={"Accept": ",".join(MANIFEST_TYPES)}
    )
    return response.content, response.headers.get("content-type", "").split(";")[0]


def put_manifest(repository: Repository, tag: str, body: bytes, media_type: str) -> str:
    """Store `body` under `tag`; returns its digest as the registry computed it."""
    response = _call(
        repository, "PUT", f"/manifests/{tag}", headers={"Content-Type": media_type}, content=body
    )
    return response.headers.get("docker-content-digest", "")


def _call(repository: Repository, method: str, path: str, **kwargs: Any) -> Any:
    try:
        import httpx
    except ImportError:
        raise MissingDependencyError("httpx", "docker") from None

    url = repository.base_url + path
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.request(method, url, **kwargs)
            if response.status_code == 401:
                token = _token(client, repository, response.headers.get("www-authenticate", ""))
                kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": token}
                response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ExternalToolError(f"registry {repository.host} did not answer {method} {path}: {exc}") from exc
    if response.status_code >= 400:
        raise ExternalToolError(
            f"registry {repository.host} refused {method} {repository.path}{path}: HTTP"
            f" {response.status_code} {response.text.strip()[:200]}",
            hint="log in to the registry (`docker login`) or check the repository name",
        )
    return response


def _token(client: Any, repository: Repository, challenge: str) -> str:
    """The Authorization header a 401's challenge asks for: Basic, or a Bearer token from its realm."""
    scheme, _, params = challenge.partition(" ")
    basic = _stored_credentials(repository.host)
    if scheme.lower() == "basic":
        if basic is None:
            raise ExternalToolError(
                f"registry {repository.host} wants a login", hint="run `docker login` first"
            )
        return f"Basic {basic}"
    fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
    fields = {key.strip(): value.strip().strip('"') for key, value in fields.items()}
    if "realm" not in fields:
        raise ExternalToolError(f"registry {repository.host} answered 401 without a token realm")
    query = {"service": fields.get("service", ""), "scope": f"repository:{repository.path}:pull,push"}
    headers = {"Authorization": f"Basic {basic}"} if basic else {}
    answer = client.get(fields["realm"], params=query, headers=headers)
    if answer.status_code != 200:
        raise ExternalToolError(
            f"registry {repository.host} gave no token (HTTP {answer.status_code})",
            hint="run `docker login` first",
        )
    data = answer.json()
    return f"Bearer {data.get('token') or data.get('access_token')}"


def _stored_credentials(host: str) -> str | None:
    """The base64 `user:password` that `docker login` stored for `host`, if any."""
    config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        auths = json.loads(config.read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"http://{host}"):
        entry = auths.get(key) or {}
        if entry.get("auth"):
            return entry["auth"]
        if entry.get("username") and entry.get("password"):
            return base64.b64encode(f"{entry['username']}:{entry['password']}".encode()).decode()
    return None
