"""Hiding the credentials a webhook URL may carry, wherever the URL is shown or stored.

A URL's userinfo (`https://user:password@host/`) and the values of secret-looking query
parameters (`?token=...`, `key=`, `secret=`, `sig=`, `password=`, `access_token=`, ...) become
`***`. The outbox, `mlops audit deliveries`, logs and error messages only ever see the redacted
form; the real URL is read from config.yaml when a delivery is sent.
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

MASK = "***"
# A query parameter is secret when its lower-cased name contains one of these.
SECRET_WORDS = ("token", "key", "secret", "sig", "pass", "pwd", "auth", "credential", "session", "code")


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def secrets_of(url: str) -> list[str]:
    """The secret substrings of `url` (password, userinfo, secret query values), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found.append(parts.password)
    if "@" in parts.netloc:
        found.append(parts.netloc.rsplit("@", 1)[0])
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and _secret_name(unquote(name)):
            found.append(value)
    found += [unquote(s) for s in found]  # as written and as an error message may quote it
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """`url` with its userinfo and secret query values replaced by `***`; the rest unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not even parseable: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&"))
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if sep and value and _secret_name(name):
        return f"{name}={MASK}"
    return pair


def redact_text(text: str | None, url: str) -> str | None:
    """`text` (an error message, a log line) with every secret of `url` masked."""
    if not text:
        return text
    text = text.replace(url, redact_url(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text
