"""Bearer-key authentication with a constant-time comparison."""

from __future__ import annotations

import hmac

from mlops_cli.serving.errors import HTTPError


class BearerAuth:
    """Checks `Authorization: Bearer <key>`; hmac.compare_digest so timing reveals nothing."""

    def __init__(self, key: str) -> None:
        self.expected = f"Bearer {key}".encode()

    def check(self, header: bytes | None) -> None:
        if header is None:
            raise HTTPError(401, "missing Authorization header (use 'Authorization: Bearer <key>')")
        if not hmac.compare_digest(header.strip(), self.expected):
            raise HTTPError(401, "invalid API key")
