#!/usr/bin/env bash
# The end-to-end demo: runs in a temporary folder with its own .mlops/ store.
# `make demo` runs it with the project's virtualenv on PATH.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step mlops init
python "$HERE/train_iris.py" iris.pkl 20   # a rough first model: iris:1 and iris:2 differ
step mlops register iris.pkl --name iris --dataset iris.csv --tag team=demo -m "first model"
python "$HERE/train_iris.py" iris.pkl 500
step mlops register iris.pkl --name iris --dataset iris.csv -m "more iterations"
step mlops models tag iris:2 stage=staging
step mlops models alias iris:2 champion
step mlops models list
step mlops models show iris@champion
step mlops models download iris@champion --output ./champion
ls -l ./champion
step mlops convert iris@champion --sample iris.csv -m "ONNX for serving"
step mlops models alias iris:3 onnx
step mlops score-batch iris@onnx --input iris.csv --output scores.csv --passthrough species
head -n 4 scores.csv
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '\n\033[1m$ mlops serve iris@onnx --port %s &\033[0m\n' "$PORT"
mlops serve iris@onnx --port "$PORT" 2>serve.log &
SERVER=$!
http() { python "$HERE/http_client.py" "$@"; }
http wait "http://127.0.0.1:$PORT/v2/health/ready"
step http post "http://127.0.0.1:$PORT/v2/models/iris/infer" \
    '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}'
step http post "http://127.0.0.1:$PORT/invocations" \
    '{"dataframe_records": [{"sepal length (cm)": 6.7, "sepal width (cm)": 3.0, "petal length (cm)": 5.2, "petal width (cm)": 2.3}]}'
kill -TERM "$SERVER"; wait "$SERVER" || true

# Size it: a short in-process sweep, stored with the version (`models show` lists it).
step mlops profile iris@onnx --mode inprocess --batch-sizes 1,32 --concurrency 1,2 --threads 1 \
    --duration 0.3 --warmup 0.05
# Monitor it: a baseline from the training data, then a check of new data against it.
step mlops monitor baseline iris@onnx --data iris.csv
step mlops monitor check iris@onnx --data iris.csv --fail-on-drift

# Deploy it, switch to another version with zero failed requests, roll back.
step mlops convert iris:1 --sample iris.csv -m "the first model, in ONNX too"
PORT2=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step mlops deploy iris:3 --name web --port "$PORT2" -m "first deployment"
step http post "http://127.0.0.1:$PORT2/v2/models/iris/infer" \
    '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}'
step mlops deploy iris:4 --name web -m "switch to the first model"
step mlops deploy status web
step mlops deploy rollback web -m "back to iris:3"
step mlops deploy history web
step mlops deploy delete web

# Ship it to a device without Docker: one deterministic archive, verified without a store.
step mlops package iris:3 --format bundle --output iris.tar.gz
step mlops bundle verify iris.tar.gz

step mlops audit log --model iris
step mlops audit verify
echo
echo "demo finished in $WORK (removed on exit)"
