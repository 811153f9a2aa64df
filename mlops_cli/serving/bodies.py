"""A request's body as the scoring endpoints read it: its type, its size and its content coding.

One reader for the v2, MLflow-style and entry-script routes, so they agree on what they accept.
A body may come compressed (`Content-Encoding: gzip` or `deflate`, as tritonclient's
`request_compression_algorithm` sends it, and as Triton reads it); the limit holds for the bytes
received and again for the bytes inflated, so a small body that inflates without end (a
"compression bomb") is a 413 after at most the limit's worth of memory.
"""

from __future__ import annotations

import zlib
from typing import Any

from mlops_cli.serving.errors import HTTPError

JSON = b"application/json"
CSV = b"text/csv"
OCTETS = b"application/octet-stream"
HEADER_LENGTH = b"inference-header-content-length"

# zlib's window bits per coding: gzip's header and trailer, or zlib's (RFC 1950) for deflate.
_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}
_RAW_DEFLATE = -zlib.MAX_WBITS


class BodyReader:
    """Reads one request's body within a limit; `limit_mb` is only for the messages."""

    def __init__(self, limit: int, limit_mb: float) -> None:
        self.limit = limit
        self.too_large = f"the body is larger than the limit of {limit_mb:g} MB"

    async def read(self, headers: dict, receive: Any, endpoint: str) -> bytes:
        raw = headers.get(b"content-type")
        if raw != JSON:  # the common case costs one comparison
            check_content_type(raw, endpoint, HEADER_LENGTH in headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise HTTPError(413, self.too_large)
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise HTTPError(413, self.too_large)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        coding = headers.get(b"content-encoding")
        return body if coding is None else self.decode(body, coding)

    def decode(self, body: bytes, header: bytes) -> bytes:
        """The body with its content codings undone, last applied first (RFC 9110 8.4)."""
        codings = [c.strip().lower() for c in header.split(b",") if c.strip()]
        for coding in reversed(codings):
            if coding == b"identity":
                continue
            wbits = _WBITS.get(coding)
            if wbits is None:
                shown = coding.decode("latin-1")
                raise HTTPError(415, f"unsupported Content-Encoding {shown!r}; send gzip, deflate or none")
            if coding == b"deflate" and not _zlib_wrapped(body):
                wbits = _RAW_DEFLATE  # some clients send deflate without zlib's wrapper
            body = self._inflate(body, wbits, coding.decode("latin-1"))
        return body

    def _inflate(self, data: bytes, wbits: int, name: str) -> bytes:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, self.limit + 1)
        except zlib.error as exc:
            raise HTTPError(400, f"the body is not valid {name} data ({exc})") from None
        if len(out) > self.limit:
            raise HTTPError(413, f"{self.too_large} once decompressed")
        if not inflater.eof:
            raise HTTPError(400, f"the {name} body ends before its compressed data does")
        if inflater.unused_data:
            raise HTTPError(400, f"the {name} body has bytes after its compressed data")
        return out


def _zlib_wrapped(data: bytes) -> bool:
    """Whether `data` starts with a zlib header (RFC 1950: deflate method, a valid check)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def media_type(raw: bytes | None) -> tuple[bytes | None, dict[bytes, bytes]]:
    """(media type, parameters) of a Content-Type header, lower-cased; (None, {}) without one."""
    if raw is None:
        return None, {}
    media, *rest = raw.split(b";")
    params = {}
    for part in rest:
        key, _, value = part.partition(b"=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip(b'"')
    return media.strip().lower(), params


def check_content_type(raw: bytes | None, endpoint: str, binary: bool) -> None:
    """A 415 unless the body's type is one the endpoint reads.

    /invocations, as MLflow's scoring server: application/json or text/csv, UTF-8, no other
    parameters (MLflow 1.x's `format=pandas-split` is refused there too), and a Content-Type is
    required. v2 infer: application/json, or application/octet-stream with the binary extension;
    no Content-Type is read as JSON, since tritonclient sends none.
    """
    media, params = media_type(raw)
    if endpoint == "invocations":
        if media is None:
            raise HTTPError(415, "no Content-Type header; send application/json or text/csv")
        if media not in (JSON, CSV):
            shown = media.decode("latin-1")
            raise HTTPError(415, f"unsupported content type {shown!r}; send application/json or text/csv")
        unknown = sorted(k.decode("latin-1") for k in params if k != b"charset")
        if unknown:
            raise HTTPError(
                415,
                f"unsupported content type parameter(s) {', '.join(unknown)} (MLflow 1.x's format=...);"
                " name the payload's format in the body (dataframe_split, dataframe_records, ...)",
            )
    elif media is not None and media != JSON and not (binary and media == OCTETS):
        raise HTTPError(415, f"unsupported content type {media.decode('latin-1')!r}; send application/json")
    charset = params.get(b"charset", b"utf-8").lower()
    if charset not in (b"utf-8", b"utf8"):
        raise HTTPError(415, f"unsupported charset {charset.decode('latin-1')!r}; send UTF-8")
