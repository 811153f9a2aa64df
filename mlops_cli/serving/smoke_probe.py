"""`python -m mlops_cli.serving.smoke_probe`: one gate check from inside a serving container.

What a Kubernetes startup probe runs, so that a pod is ready (and takes traffic) only after the
same gate the local and docker targets apply: `/v2/health/ready`, then a smoke inference on the
version's own sample in the right shape. Kubernetes starts readiness probes only once the
startup probe has passed, and a rolling update with `maxUnavailable: 0` retires no old pod
before a new one is ready. Exit 0 when the check passes, 1 with the reason on stderr otherwise.

    python -m mlops_cli.serving.smoke_probe --port 8080 --model churn --smoke '{"kind": ...}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from mlops_cli.serving.gate import GateError, smoke
from mlops_cli.serving.httpclient import Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_cli.serving.smoke_probe")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--model", required=True, help="the model's name, as the server serves it")
    parser.add_argument("--smoke", required=True, help="the smoke request deploy made (JSON)")
    parser.add_argument("--api-key-env", help="the variable holding the server's API key")
    args = parser.parse_args(argv)
    key = os.environ.get(args.api_key_env or "", "") if args.api_key_env else ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = Client(host="127.0.0.1", port=args.port, timeout=5, headers=headers)
    try:
        ready = client.get("/v2/health/ready")
        if ready.status_code != 200:
            raise GateError(f"not ready yet ({ready.status_code})")
        seen = smoke(client, json.loads(args.smoke), args.model)
    except (GateError, OSError, ValueError) as exc:
        print(f"smoke probe: {exc}", file=sys.stderr)  # noqa: T201 - a probe's one line for the kubelet
        return 1
    print(f"smoke probe: {seen}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
