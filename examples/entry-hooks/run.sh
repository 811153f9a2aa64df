#!/usr/bin/env bash
# preprocess()/postprocess() around a converted ONNX model, served and called.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../entry-serve.sh"
cd "$(mktemp -d)"
mlops init
python "$HERE/../train_iris.py" model.pkl
mlops register model.pkl --name iris
mlops convert iris:1 --sample iris.csv >/dev/null   # iris:2, the ONNX graph (input "input")
mlops models download iris:2 --output onnx
mlops register onnx --name iris-hooks --entry "$HERE/hooks.py"
serve_and_score iris-hooks \
    '{"flowers": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}'
