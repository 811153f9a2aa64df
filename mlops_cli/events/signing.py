"""Webhook signatures in MLflow's scheme (MLflow 3.3+ registry webhooks, Standard Webhooks style).

Headers: `X-MLflow-Delivery-Id` (a UUID, the same on every retry of one delivery),
`X-MLflow-Timestamp` (Unix seconds of this attempt) and `X-MLflow-Signature`:
`v1,` + base64(HMAC-SHA256(secret, f"{delivery_id}.{timestamp}.{body}")). A receiver written
for MLflow's webhooks verifies mlops's deliveries unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The `X-MLflow-Signature` value for one attempt."""
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, delivery_id: str, timestamp: str, body: str, signature: str) -> bool:
    """What a receiver does (docs/commands/audit.md shows the same few lines); constant-time comparison."""
    if not signature.startswith(f"{SIGNATURE_VERSION},"):
        return False
    return hmac.compare_digest(sign(secret, delivery_id, timestamp, body), signature)
