"""The background deliverer: one at a time per store, a dead hook never holds back a healthy one,
claims survive pid reuse, and webhook credentials never reach the store, the output or the logs.
Real HTTP receivers on 127.0.0.1; the deliverer is the real detached process commands start."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.cli.test_hooks import write_config
from tests.webhook_receiver import Receiver, deliverer_pids, wait_for_deliveries


@pytest.fixture
def store_root(project):
    root = project / ".mlops"
    yield root
    for pid in deliverer_pids(root):  # a deliverer still waiting on a dead hook
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def dead_url():
    """A URL whose server accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"
    sock.close()


def _rows(store_root: Path) -> list[dict]:
    conn = sqlite3.connect(store_root / "mlops.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]
    finally:
        conn.close()


def test_a_loop_of_commands_runs_one_deliverer_at_a_time(cli, project, model_file, store_root):
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.append(len(deliverer_pids(store_root)))
            time.sleep(0.005)

    with Receiver(delay=0.05) as receiver:
        write_config(project, f"- events: ['*']\n  url: {receiver.url}\n")
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            assert cli("register", model_file, "--name", "churn").exit_code == 0
            for number in range(25):
                assert cli("models", "tag", "churn:1", f"k{number}=v").exit_code == 0
            rows = wait_for_deliveries(store_root)
        finally:
            stop.set()
            sampler.join()
    assert [r["status"] for r in rows] == ["delivered"] * 26
    assert len(receiver.requests) == 26
    assert max(seen) == 1 and len(seen) > 10


def test_a_dead_hook_does_not_hold_back_a_healthy_one(cli, project, model_file, store_root, dead_url):
    with Receiver() as healthy:
        write_config(
            project,
            f"""\
            - name: dead
              events: ['*']
              url: {dead_url}
              timeout: 600
              retries: 0
            - name: healthy
              events: ['*']
              url: {healthy.url}
            """,
        )
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        for number in range(5):
            assert cli("models", "tag", "churn:1", f"k{number}=v").exit_code == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = _rows(store_root)
            by_hook = {
                name: [r["status"] for r in rows if json.loads(r["hook"])["name"] == name]
                for name in ("dead", "healthy")
            }
            if by_hook["healthy"].count("delivered") == 6:
                break
            time.sleep(0.05)
        assert len(healthy.requests) == 6
    # The dead hook's first delivery is still waiting (600 s timeout) while all six went through.
    assert by_hook["healthy"] == ["delivered"] * 6
    assert by_hook["dead"][0] == "sending" and "delivered" not in by_hook["dead"]
    assert len(deliverer_pids(store_root)) == 1


def test_a_claim_by_a_reused_pid_goes_back_to_pending(cli, project, model_file, store_root):
    """The claimer died and its pid now belongs to another live process (here: the test runner's parent)."""
    with Receiver() as receiver:
        write_config(project, f"- events: [register]\n  url: {receiver.url}\n")
        from tests.cli.test_hooks import _pending_without_deliverer

        _pending_without_deliverer(project, model_file, 1)
        conn = sqlite3.connect(store_root / "mlops.db")
        with conn:
            conn.execute(
                "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_start = '1'", (os.getppid(),)
            )
        conn.close()
        sent = cli("audit", "deliver", "--json")
        assert sent.exit_code == 0, sent.stderr
        assert sent.json["delivered"] == 1
    assert len(receiver.requests) == 1


SECRETS = ("pa55word", "tok3n-value", "s1gnature", "k3y-value")


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_credentials_in_a_webhook_url_are_used_but_never_stored_or_shown(
    cli, project, model_file, store_root
):
    with Receiver() as receiver:
        url = (
            receiver.url.replace("http://", "http://alice:pa55word@")
            + "?access_token=tok3n-value&sig=s1gnature&x=1"
        )
        write_config(project, f"- events: [register]\n  url: {json.dumps(url)}\n")
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        rows = wait_for_deliveries(store_root)
    assert rows[0]["status"] == "delivered"
    request = receiver.requests[0]
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"alice:pa55word").decode()
    _assert_no_secret(json.dumps(rows))
    assert rows[0]["target"].endswith("/hook?access_token=***&sig=***&x=1")
    assert rows[0]["target"].startswith("http://***@127.0.0.1:")
    shown = cli("audit", "deliveries", "--json")
    assert shown.exit_code == 0
    _assert_no_secret(shown.stdout)


def test_credentials_never_appear_in_a_failure(cli, project, model_file, store_root):
    url = "http://bob:pa55word@127.0.0.1:9/hook?key=k3y-value&token=tok3n-value"
    write_config(project, f"- events: [register]\n  url: {json.dumps(url)}\n  retries: 0\n")
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    rows = wait_for_deliveries(store_root)
    assert (
        rows[0]["status"] == "failed" and "cannot reach http://***@127.0.0.1:9/hook" in rows[0]["last_error"]
    )
    _assert_no_secret(json.dumps(rows))
    for args in (
        ("audit", "deliveries"),
        ("audit", "deliveries", "--json"),
        ("audit", "deliver", "--failed"),
    ):
        shown = cli(*args)
        _assert_no_secret(shown.stdout + shown.stderr)
    log = store_root / "deliveries.log"
    _assert_no_secret(log.read_text() if log.exists() else "")
    bad = "ftp://carol:pa55word@127.0.0.1/hook"
    write_config(project, f"- events: [register]\n  url: {json.dumps(bad)}\n")
    warned = cli("models", "tag", "churn:1", "a=b")
    assert "is not an http(s) URL" in warned.stderr
    _assert_no_secret(warned.stderr)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_background_deliverer_killed_mid_send_is_replaced_by_the_next_command(
    cli, project, model_file, store_root, sig
):
    with Receiver(delay=2) as receiver:
        write_config(project, f"- events: ['*']\n  url: {receiver.url}\n  timeout: 10\n")
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        (first,) = deliverer_pids(store_root)
        os.kill(first, sig)
        while first in deliverer_pids(store_root) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first not in deliverer_pids(store_root)
        receiver.delay = 0
        assert cli("models", "tag", "churn:1", "a=b").exit_code == 0  # its deliverer takes over
        rows = wait_for_deliveries(store_root)
    assert [(r["event"], r["status"]) for r in rows] == [("register", "delivered"), ("tag", "delivered")]
    ids = [r["headers"]["X-MLflow-Delivery-Id"] for r in receiver.requests]
    assert set(ids) == {r["delivery_id"] for r in rows}  # the killed attempt was sent again, same id


def test_upgrading_a_store_redacts_the_urls_an_older_version_stored(cli, project, store_root):
    conn = sqlite3.connect(store_root / "mlops.db")
    with conn:
        conn.execute("ALTER TABLE outbox DROP COLUMN claimed_start")  # as schema 5 had it
        # ... and without what later migrations add (m007: remotes)
        for table in ("store_origin", "remotes", "remote_versions", "pulled_events"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        url = "http://alice:pa55word@127.0.0.1:9/hook?token=tok3n-value"
        hook = json.dumps({"kind": "webhook", "target": url, "events": ["*"], "name": None})
        conn.execute(
            "INSERT INTO outbox (delivery_id, event_seq, event, hook, kind, target, status, created_at,"
            " updated_at) VALUES ('d1', 1, 'init', ?, 'webhook', ?, 'failed', 'now', 'now')",
            (hook, url),
        )
        conn.execute("PRAGMA user_version = 5")
    conn.close()
    shown = cli("audit", "deliveries", "--json")
    assert shown.exit_code == 0, shown.stderr
    _assert_no_secret(shown.stdout + json.dumps(_rows(store_root)))
    assert shown.json[0]["target"] == "http://***@127.0.0.1:9/hook?token=***"
