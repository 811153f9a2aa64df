"""Docker image references checked before any work, so a typo fails in milliseconds (exit 2).

The grammar is the one the engine applies (distribution/reference): an optional registry host
with port, lower-case path components, an optional tag, an optional digest. Checking it here
means `mlops package --image 'Bad Name'` fails before the build context is written and Docker
is asked anything, instead of exit 4 after minutes of work.
"""

from __future__ import annotations

import re

from mlops_cli.errors import UsageError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
MAX_NAME = 255


def validate_image_ref(reference: str, option: str = "--image") -> str:
    """Return `reference` when Docker would accept it as an image name; else raise UsageError.

    A first component without a dot, a colon or `localhost` is a path, not a host, as Docker
    reads it (so `myteam/churn:3` is a repository on the default registry).
    """
    if not reference or not reference.strip():
        raise UsageError(f"{option} is empty", hint="give NAME[:TAG], e.g. churn:3, or leave the option out")
    match = _REFERENCE.fullmatch(reference)
    if match and match.group("host"):
        host = match.group("host")
        if not ("." in host or ":" in host or host == "localhost" or host.startswith("[")):
            match = None if host != host.lower() else match
    if match is None:
        hint = "the form is [HOST[:PORT]/]NAME[/NAME...][:TAG][@sha256:DIGEST], NAME in lower case"
        if reference != reference.lower():
            hint = f"repository names must be lower case, e.g. {reference.lower()!r}"
        raise UsageError(f"{option} {reference!r} is not a valid Docker image reference", hint=hint)
    name = reference.split("@", 1)[0]
    if match.group("tag"):
        name = name[: -len(match.group("tag")) - 1]
    if len(name) > MAX_NAME:
        raise UsageError(f"{option} {reference!r} is longer than {MAX_NAME} characters")
    return reference
