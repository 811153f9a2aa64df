"""Run by MLflow's own virtualenv (.venv-peers/mlflow), never imported by the tests.

Reads {"names": [...], "deliveries": [{"secret", "delivery_id", "timestamp", "body"}]} on stdin
and prints, as JSON, which names MLflow's `WebhookEvent` refuses (with its reason) and the
signature MLflow's own delivery code computes for each delivery, for
tests/integration/test_hooks_mlflow.py to compare with what mlops sent.
"""

from __future__ import annotations

import json
import sys

from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.webhooks.delivery import _generate_hmac_signature


def refused(name: str) -> str | None:
    entity, _, action = name.partition(".")
    try:
        WebhookEvent(WebhookEntity(entity), WebhookAction(action))
    except Exception as exc:  # noqa: BLE001 - MLflow's ValueError or MlflowException
        return str(exc)
    return None


def main() -> None:
    given = json.load(sys.stdin)
    report = {
        "refused": {name: reason for name in given["names"] if (reason := refused(name))},
        "signatures": [
            _generate_hmac_signature(d["secret"], d["delivery_id"], d["timestamp"], d["body"])
            for d in given["deliveries"]
        ],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
