#!/usr/bin/env bash
# Builds .venv-peers/tritonclient: NVIDIA's tritonclient (HTTP, with its gevent client) in a
# virtualenv of its own, so that the serving tests can drive `mlops serve` with the client Triton
# and KServe users already have (tests/integration/test_serve_tritonclient.py) and the project's
# venv never imports gevent. Idempotent: a second run is a stamp check.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-peers/tritonclient
SPEC='tritonclient[http]>=2.40 numpy'
STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SPEC" ] && "$VENV/bin/python" -c 'import tritonclient.http' 2>/dev/null; then
    exit 0
fi
mkdir -p .venv-peers
python3 -m venv "$VENV"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet $SPEC
echo "$SPEC" > "$STAMP"
