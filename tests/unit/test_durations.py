"""The one grammar for spans of time (`gc --grace`) and `--since` moments (audit log/export,
monitor check): the union of the forms each command accepted before they shared it."""

from datetime import datetime, timedelta, timezone

import pytest

from mlops_cli.durations import parse_duration, parse_since
from mlops_cli.errors import UsageError

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("90", 90),
        ("2.5", 2.5),
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("1.5h", 5400),
        ("2d", 172800),
        ("1w", 604800),
        (" 7d ", 604800),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1y", "-1h", "1 h", "h", "1hm", "1e3"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(UsageError, match="invalid --grace") as raised:
        parse_duration(text, what="--grace")
    assert "1.5h" in raised.value.hint


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("30s", timedelta(seconds=30)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_since_a_span_back_from_now(text, back):
    assert parse_since(text, now=NOW) == NOW - back


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
        ("2026-11-01T12:00", datetime(2026, 11, 1, 12, tzinfo=timezone.utc)),
        ("2026-11-01T12:00Z", datetime(2026, 11, 1, 12, tzinfo=timezone.utc)),
        ("2026-11-01T14:00+02:00", datetime(2026, 11, 1, 12, tzinfo=timezone.utc)),
    ],
)
def test_since_a_date_or_time_is_utc(text, moment):
    parsed = parse_since(text, now=NOW)
    assert parsed == moment and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "7", "7y", "2026-13-01"])
def test_bad_since(text):
    with pytest.raises(UsageError, match="invalid --since"):
        parse_since(text, now=NOW)
