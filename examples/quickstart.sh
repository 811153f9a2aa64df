#!/usr/bin/env bash
# The registry part of the docs' quick start, as a script: register a model, version it, promote it, audit it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$(mktemp -d)"
mlops init
python "$HERE/train_iris.py" model.pkl
mlops register model.pkl --name iris --tag team=growth -m "baseline"
mlops models alias iris:1 champion
mlops models list
mlops models show iris@champion --json | python -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
mlops audit log --limit 5
mlops audit verify
