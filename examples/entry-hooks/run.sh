#!/usr/bin/env bash
# preprocess()/postprocess() around a converted ONNX model, served and called.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$(mktemp -d)"
mlops init
python "$HERE/../train_iris.py" model.pkl
mlops register model.pkl --name iris
mlops convert iris:1 --sample iris.csv >/dev/null   # iris:2, the ONNX graph (input "input")
mlops models download iris:2 --output onnx
mlops register onnx --name iris-hooks --entry "$HERE/hooks.py"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mlops serve iris-hooks --port "$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null && break; sleep 0.2; done
curl -sf -X POST "http://127.0.0.1:$PORT/score" -H 'Content-Type: application/json' \
    -d '{"flowers": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}'
echo
kill $SERVER && wait $SERVER || true
mlops audit verify
