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
python "$HERE/train_iris.py" iris.pkl 200
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
step mlops audit log --model iris
step mlops audit verify
echo
echo "demo finished in $WORK (removed on exit)"
