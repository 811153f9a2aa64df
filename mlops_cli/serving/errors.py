"""The one exception the request path raises: it becomes a JSON `{"error": ...}` response."""

from __future__ import annotations


class HTTPError(Exception):
    """A request that cannot be served; `status` is the HTTP code, `message` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
