#!/usr/bin/env bash
# Builds .venv-peers/evidently: Evidently 0.7 in a virtualenv of its own (it needs pandas<3,
# which the project's venv does not pin), for the comparison test of `mlops monitor check`
# (tests/integration/test_monitor_evidently.py). Idempotent: a second run is a stamp check.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-peers/evidently
SPEC='evidently>=0.7,<0.8 pandas<3'
STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SPEC" ] && "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("evidently") is None)' 2>/dev/null; then
    exit 0
fi
mkdir -p .venv-peers
python3 -m venv "$VENV"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet $SPEC
echo "$SPEC" > "$STAMP"
