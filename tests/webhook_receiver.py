"""A real HTTP receiver on 127.0.0.1 for webhook tests: it records requests and verifies
signatures the way a receiver written for MLflow's webhooks does (its own code, not mlops's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def mlflow_style_verify(secret: str, headers, body: str) -> bool:
    """What MLflow's documented receiver does: `v1,` + base64 HMAC-SHA256 of id.timestamp.body."""
    signature = headers.get("X-MLflow-Signature", "")
    if not signature.startswith("v1,"):
        return False
    content = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.{body}"
    expected = base64.b64encode(hmac.new(secret.encode(), content.encode(), hashlib.sha256).digest()).decode()
    return hmac.compare_digest(signature[3:], expected)


class Receiver:
    """Answers `statuses` in turn (then 200); `requests` holds (headers, body, verified)."""

    def __init__(self, secret: str | None = None, statuses: list[int] | None = None, delay: float = 0):
        self.secret = secret
        self.statuses = list(statuses or [])
        self.delay = delay
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                verified = (
                    mlflow_style_verify(receiver.secret, self.headers, body) if receiver.secret else None
                )
                receiver.requests.append({"headers": dict(self.headers), "body": body, "verified": verified})
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if verified is False:
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


def wait_for_deliveries(store_root, timeout: float = 30.0) -> list[dict]:
    """Poll the outbox until nothing is pending or being sent; return its rows."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(store_root / "mlops.db")
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]
        conn.close()
        if rows and all(r["status"] in ("delivered", "failed") for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries still pending after {timeout}s: {rows}")
        time.sleep(0.05)


def deliverer_pids(store_root) -> list[int]:
    """The store's background deliverers (`python -m mlops_cli.events deliver`), from /proc."""
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mlops_cli.events" in argv and str(store_root).encode() in argv:
            found.append(int(entry.name))
    return found


def main() -> None:
    """`python -m tests.webhook_receiver [DELAY]`: serve in its own process, print the URL."""
    import sys

    with Receiver(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0) as receiver:
        sys.stdout.write(receiver.url + "\n")
        sys.stdout.flush()
        receiver.thread.join()


if __name__ == "__main__":
    main()
