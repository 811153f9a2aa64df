"""Sending claimed outbox rows: webhooks (signed POST) and command hooks (event JSON on stdin).

Each delivery is tried `1 + retries` times with exponential backoff (`backoff * 2**n` seconds,
or the receiver's Retry-After, at most 60 s) on 429, 5xx, timeouts and network errors; other
answers are final. The outcome, attempt count and last error are stored on the row, which
stays replayable (`mlops audit deliver --id N`).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops_cli.domain import AuditEvent, Delivery
from mlops_cli.events.config import HookConfig
from mlops_cli.events.config import load as load_config
from mlops_cli.events.lanes import Lanes
from mlops_cli.events.names import entity_action
from mlops_cli.events.signing import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from mlops_cli.redaction import MASK, redact_text, redact_url
from mlops_cli.store import Store, outbox
from mlops_cli.store.events import event_from_row

MAX_BACKOFF = 60.0
USER_AGENT = "mlops-cli-webhooks"


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None  # the HTTP status or the command's exit code
    error: str | None
    retryable: bool
    retry_after: float | None = None


@dataclass
class DeliveryRun:
    """What one `deliver` pass did."""

    delivered: int = 0
    failed: int = 0
    deliveries: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "deliveries": [asdict(d) for d in self.deliveries],
        }


def payload(event: AuditEvent, delivery_id: str) -> str:
    """The request body: MLflow's envelope (entity, action, timestamp, data) plus mlops's event."""
    entity, action = entity_action(event.action)
    data = asdict(event)
    return json.dumps(
        {
            "entity": entity,
            "action": action,
            "event": event.action,
            "timestamp": event.ts,
            "delivery_id": delivery_id,
            "data": data,
        },
        sort_keys=True,
    )


def post_webhook(hook: dict[str, Any], delivery_id: str, body: str) -> Attempt:
    """One signed POST with the standard library's http.client (header names keep their case,
    as MLflow sends them; no extra package). Redirects are not followed: a receiver answers."""
    import http.client
    from urllib.parse import urlsplit

    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if hook.get("secret_env"):
        secret = os.environ.get(hook["secret_env"])
        if not secret:
            return Attempt(False, None, f"environment variable {hook['secret_env']} is not set", False)
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, body)
    url = urlsplit(hook["target"])
    if url.username is not None:  # userinfo is sent as HTTP Basic auth, as curl and requests do
        from urllib.parse import unquote

        user_pass = f"{unquote(url.username)}:{unquote(url.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode()
    factory = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    connection = factory(url.hostname, url.port, timeout=hook["timeout"])
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
    except TimeoutError:
        return Attempt(False, None, f"timed out after {hook['timeout']:g} s", True)
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Attempt(False, None, f"cannot reach {hook['target']}: {reason}", True)
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return Attempt(True, response.status, None, False)
    retryable = response.status == 429 or response.status >= 500
    error = f"HTTP {response.status} {response.reason}"
    return Attempt(False, response.status, error, retryable, _retry_after(response.getheader("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), MAX_BACKOFF) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def run_command(hook: dict[str, Any], delivery: Delivery, body: str, cwd: Path) -> Attempt:
    """Run a command hook with the event JSON on stdin; exit 0 is success."""
    argv = shlex.split(hook["target"])
    env = {
        **os.environ,
        "MLOPS_EVENT": delivery.event,
        "MLOPS_EVENT_SEQ": str(delivery.event_seq),
        "MLOPS_DELIVERY_ID": delivery.delivery_id,
    }
    try:
        done = subprocess.run(
            argv, input=body, text=True, capture_output=True, timeout=hook["timeout"], cwd=cwd, env=env
        )
    except FileNotFoundError:
        return Attempt(False, None, f"command not found: {argv[0]}", False)
    except subprocess.TimeoutExpired:
        return Attempt(False, None, f"timed out after {hook['timeout']:g} s", True)
    except OSError as exc:
        return Attempt(False, None, f"cannot run {argv[0]}: {exc.strerror or exc}", False)
    if done.returncode == 0:
        return Attempt(True, 0, None, False)
    tail = " ".join((done.stderr or "").strip().splitlines()[-3:])[:300]
    return Attempt(False, done.returncode, f"exit {done.returncode}" + (f": {tail}" if tail else ""), True)


def attempt_delivery(
    store: Store, delivery: Delivery, event: AuditEvent, sleep: Callable[[float], None] = time.sleep
) -> tuple[Attempt, int]:
    """Try a delivery with its retries; return the last attempt and how many were made."""
    hook = delivery.hook
    body = payload(event, delivery.delivery_id)
    tries = 1 + int(hook.get("retries", 0))
    attempt: Attempt | None = None
    for number in range(tries):
        if number:
            delay = attempt.retry_after if attempt and attempt.retry_after is not None else None
            sleep(
                min(delay if delay is not None else hook.get("backoff", 0.5) * 2 ** (number - 1), MAX_BACKOFF)
            )
        if delivery.kind == "webhook":
            attempt = post_webhook(hook, delivery.delivery_id, body)
        else:
            attempt = run_command(hook, delivery, body, store.paths.project_dir)
        if attempt.ok or not attempt.retryable:
            return attempt, number + 1
    assert attempt is not None
    return attempt, tries


POLL_SECONDS = 0.2  # how often a busy deliverer looks for new rows


def deliver(
    store: Store,
    *,
    include_failed: bool = False,
    ids: list[int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryRun:
    """Claim and send the pending deliveries (and the failed ones, or exactly `ids`); record each.

    Each hook has its own lane (`lanes.py`): a dead hook's timeouts and retries delay only its
    own deliveries. Without `ids` or `include_failed`, rows committed while sending are claimed
    too, until nothing is pending or in flight; with them, one pass (a row that failed again
    is not retried in the same run).
    """
    statuses = ("pending", "failed") if include_failed else ("pending",)
    one_pass = bool(ids) or include_failed
    run = DeliveryRun()
    handled: list[int] = []
    lanes = Lanes(lambda delivery, event: _send(store, delivery, event, sleep))
    claiming = True
    try:
        while True:
            claimed = outbox.claim(store.conn, statuses=statuses, ids=ids) if claiming else []
            claiming = not one_pass
            if claimed:
                hooks = load_config(store.paths.root).hooks
            for delivery in claimed:
                handled.append(delivery.id)
                row = store.conn.execute(
                    "SELECT * FROM events WHERE seq = ?", (delivery.event_seq,)
                ).fetchone()
                real = _real_hook(delivery, hooks)
                if row is None or isinstance(real, str):
                    error = f"event {delivery.event_seq} is missing" if row is None else real
                    _record(store, run, delivery, (Attempt(False, None, error, False), 0))
                else:
                    lanes.submit(_lane_key(delivery), replace(delivery, hook=real), event_from_row(row))
            if not claimed and not lanes.in_flight:
                break
            for outcome in lanes.outcomes(POLL_SECONDS):
                if isinstance(outcome.result, BaseException):
                    raise outcome.result
                _record(store, run, outcome.delivery, outcome.result)
    finally:
        lanes.close()
    run.deliveries = outbox.list_by_ids(store.conn, handled)
    return run


def _send(store: Store, delivery: Delivery, event: AuditEvent, sleep: Callable[[float], None]):
    """In a lane's thread: the attempts, with every secret of the real URL masked in the error."""
    attempt, tries = attempt_delivery(store, delivery, event, sleep)
    if attempt.error and delivery.kind == "webhook":
        attempt = replace(attempt, error=redact_text(attempt.error, delivery.hook["target"]))
    return attempt, tries


def _record(store: Store, run: DeliveryRun, delivery: Delivery, result: tuple[Attempt, int]) -> None:
    attempt, tries = result
    outbox.record(
        store.conn,
        delivery.id,
        delivered=attempt.ok,
        attempts=tries,
        last_status=attempt.status,
        last_error=attempt.error,
    )
    run.delivered += attempt.ok
    run.failed += not attempt.ok


def _lane_key(delivery: Delivery) -> str:
    return json.dumps([delivery.kind, delivery.hook.get("name"), delivery.target])


def _real_hook(delivery: Delivery, hooks: tuple[HookConfig, ...]) -> dict[str, Any] | str:
    """The stored hook with its real URL from config.yaml (the outbox keeps it redacted), or
    why it cannot be sent."""
    if delivery.kind != "webhook":
        return delivery.hook
    for hook in hooks:
        if (
            hook.kind == "webhook"
            and hook.name == delivery.hook.get("name")
            and redact_url(hook.target) == delivery.target
        ):
            return {**delivery.hook, "target": hook.target}
    if MASK not in delivery.target:
        return delivery.hook  # nothing was redacted: the stored URL is the real one
    return (
        f"no hook in config.yaml has the URL {delivery.target}; its credentials are not stored,"
        " so it cannot be sent"
    )
