"""Bearer-key authentication with a constant-time comparison."""

from __future__ import annotations

import hmac

from mlops_cli.serving.errors import HTTPError


class BearerAuth:
    """Checks `Authorization: Bearer <key>`; hmac.compare_digest so timing reveals nothing.

    The scheme is case-insensitive (RFC 7235: `bearer`, `BEARER` work); the key is not.
    """

    def __init__(self, key: str) -> None:
        self.expected = key.encode()

    def check(self, header: bytes | None) -> None:
        if header is None:
            raise HTTPError(401, "missing Authorization header (use 'Authorization: Bearer <key>')")
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            raise HTTPError(401, "the Authorization scheme must be Bearer ('Authorization: Bearer <key>')")
        if not hmac.compare_digest(token.strip(), self.expected):
            raise HTTPError(401, "invalid API key")
