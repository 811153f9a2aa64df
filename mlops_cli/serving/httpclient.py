"""The few HTTP calls deploy makes (health and smoke checks), with the standard library only:
over a revision's private unix socket, or to its public TCP address. No extra dependency."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Client:
    """GET and POST-JSON on one server; OSError (or http.client's errors) when it cannot answer."""

    def __init__(
        self,
        *,
        uds: str | None = None,
        host: str = "127.0.0.1",
        port: int = 80,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.uds, self.host, self.port, self.timeout = uds, host, port, timeout
        self.headers = headers or {}

    def _connection(self) -> http.client.HTTPConnection:
        if self.uds:
            return _UnixConnection(self.uds, self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        connection = self._connection()
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.read())
        except http.client.HTTPException as exc:
            raise OSError(f"bad HTTP answer: {exc!r}") from None
        finally:
            connection.close()

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, json: Any) -> Answer:  # noqa: A002 - the name httpx uses
        return self.request("POST", path, json)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def ready(host: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether HOST:PORT answers 200 on /v2/health/ready, and a few words saying so."""
    try:
        code = Client(host=host.strip("[]"), port=port, timeout=timeout).get("/v2/health/ready").status_code
    except OSError as exc:
        return False, f"ready check failed ({type(exc).__name__})"
    return code == 200, "ready" if code == 200 else f"ready answered {code}"
