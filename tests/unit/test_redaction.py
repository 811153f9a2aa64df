"""Redacting webhook URLs, and the pid + start-time liveness check that outbox claims use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlops_cli.pids import pid_alive, process_start
from mlops_cli.redaction import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p%40ss@h.example/x?token=abc&x=1", "https://***@h.example/x?token=***&x=1"),
        ("https://token@h.example/", "https://***@h.example/"),
        (
            "http://h/?access_token=a&api_key=b&sig=c&Password=d&page=2",
            "http://h/?access_token=***&api_key=***&sig=***&Password=***&page=2",
        ),
        ("http://h:8080/hook", "http://h:8080/hook"),
        ("http://h/?key=", "http://h/?key="),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_masks_decoded_and_encoded_secrets():
    url = "https://bob:p%40ss@h/x?secret=s%2F1"
    text = f"cannot reach {url}: bob:p@ss refused s/1 and s%2F1"
    masked = redact_text(text, url)
    assert "p@ss" not in masked and "p%40ss" not in masked and "s/1" not in masked and "s%2F1" not in masked
    assert masked.startswith("cannot reach https://***@h/x?secret=***")


def test_a_live_pid_with_another_start_time_is_not_the_same_process():
    start = process_start()
    assert start is not None and pid_alive(os.getpid(), start)
    assert not pid_alive(os.getpid(), str(int(start) + 1))
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not pid_alive(int(done.stdout))
