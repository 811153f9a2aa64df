"""Spans of time as users type them (`90`, `30s`, `10m`, `1.5h`, `2d`, `1w`), and `--since`
moments (a date, a time, or a span back from now): one grammar for every command.

Nothing here imports the rest of the package but the error root, so any layer can use it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from mlops_cli.errors import UsageError

_SPAN = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SPAN_HINT = "seconds, or a number with s, m, h, d or w (30s, 10m, 1.5h, 2d, 1w)"
SINCE_HINT = "use a date (2026-11-01), a time (2026-11-01T12:00) or a span back: 30m / 12h / 7d / 2w"


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds from `90` (seconds), `30s`, `10m`, `1.5h`, `2d` or `1w`; UsageError otherwise."""
    match = _SPAN.fullmatch(text.strip())
    if not match:
        raise UsageError(f"invalid {what} {text!r}", hint=f"use {SPAN_HINT}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_since(text: str, *, now: datetime | None = None, what: str = "--since") -> datetime:
    """An aware UTC moment from `2026-11-01`, `2026-11-01T12:00[Z|+02:00]`, or a span back from
    now with its unit (`30m`, `12h`, `7d`, `2w`; a bare number would read as a date).

    Raises UsageError for anything else.
    """
    text = text.strip()
    match = _SPAN.fullmatch(text)
    if match and match.group(2):
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=parse_duration(text, what=what))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="use a date (2026-11-01), a time (2026-11-01T12:00) or 30m / 12h / 7d / 2w",
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
