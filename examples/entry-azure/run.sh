#!/usr/bin/env bash
# An Azure ML score.py + environment.yml, registered, served in its own environment and called.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$(mktemp -d)"
mlops init
python "$HERE/train.py" model.joblib
mlops register model.joblib --name iris-azure --entry "$HERE/score.py" --environment "$HERE/environment.yml"
mlops models show iris-azure
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mlops serve iris-azure --port "$PORT" &   # the first serve builds the environment (cached after)
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null && break; sleep 0.5; done
curl -sf -X POST "http://127.0.0.1:$PORT/score" -H 'Content-Type: application/json' \
    -d '{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'
echo
kill $SERVER && wait $SERVER || true
mlops audit verify
