"""mlops's webhooks as MLflow itself sees them (MLflow 3.3+'s webhooks, in its own virtualenv).

Every MLflow event name an mlops event answers to must be a `WebhookEvent` MLflow accepts, and
every delivery's `X-MLflow-Signature` must be what MLflow's own delivery code
(`mlflow.webhooks.delivery._generate_hmac_signature`) computes for it: so a receiver written for
MLflow verifies mlops's deliveries unchanged. Skipped when the peer is missing, unless
MLOPS_REQUIRE_MLFLOW=1 (CI sets it).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from mlops_cli.events.names import EVENTS
from tests.cli.test_hooks import SECRET, write_config
from tests.integration.test_serve_peer_clients import ROOT, peer
from tests.webhook_receiver import Receiver, wait_for_deliveries

pytestmark = pytest.mark.integration

MLFLOW_ENTITIES = ("registered_model.", "model_version.", "model_version_tag.", "model_version_alias.")


def ask_mlflow(names: list[str], deliveries: list[dict]) -> dict:
    run = subprocess.run(
        [str(peer("mlflow")), str(ROOT / "tests" / "peers" / "mlflow_webhooks.py")],
        input=json.dumps({"names": names, "deliveries": deliveries}),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_mlflow_names_and_signatures_are_mlflows_own(cli, project, model_file, monkeypatch):
    peer("mlflow")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with Receiver(secret=SECRET) as receiver:
        write_config(
            project,
            f"""\
            - name: mlflow-style
              events: ["model_version.*", "model_version_tag.*", "model_version_alias.*"]
              url: {receiver.url}
              secret_env: HOOK_SECRET
            """,
        )
        for args in (
            ["register", model_file, "--name", "churn"],
            ["models", "tag", "churn:1", "team=risk"],
            ["models", "untag", "churn:1", "team"],
            ["models", "alias", "churn:1", "champion"],
            ["models", "unalias", "churn", "champion"],
        ):
            assert cli(*args).exit_code == 0
        rows = wait_for_deliveries(project / ".mlops")
    assert [r["event"] for r in rows] == ["register", "tag", "untag", "alias", "unalias"]
    assert all(r["status"] == "delivered" for r in rows)
    mlflow_names = sorted(
        {n for _, others in EVENTS.values() for n in others if n.startswith(MLFLOW_ENTITIES)}
    )
    deliveries = [
        {
            "secret": SECRET,
            "delivery_id": r["headers"]["X-MLflow-Delivery-Id"],
            "timestamp": r["headers"]["X-MLflow-Timestamp"],
            "body": r["body"],
        }
        for r in receiver.requests
    ]
    said = ask_mlflow(mlflow_names, deliveries)
    assert said["refused"] == {}, said["refused"]
    assert said["signatures"] == [r["headers"]["X-MLflow-Signature"] for r in receiver.requests]
    for body in receiver.payloads():  # MLflow's envelope: entity, action, timestamp, data
        assert {"entity", "action", "timestamp", "data"} <= set(body)
