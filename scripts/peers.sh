#!/usr/bin/env bash
# Builds the peers the tests compare mlops with, each in a virtualenv of its own under
# .venv-peers/ (their pins clash with the project's venv and with each other). Idempotent: a peer
# whose stamp matches its spec is a stamp check. `bash scripts/peers.sh` builds all of them;
# `bash scripts/peers.sh evidently kserve` builds those.
#
#   evidently     Evidently 0.7 (needs pandas<3): `monitor check` verdicts (test_monitor_evidently.py)
#   azureml       Azure ML's scoring server: entry-script parity (tests/entry/test_azure_parity.py)
#   tritonclient  NVIDIA's HTTP client (brings gevent): `serve` (test_serve_peer_clients.py)
#   kserve        KServe's InferenceRESTClient, v2 protocol: `serve` (test_serve_peer_clients.py)
#   mlflow        MLflow's ScoringServerClient on /invocations: `serve` (test_serve_peer_clients.py)
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A SPEC=(
    [evidently]='evidently>=0.7,<0.8 pandas<3'
    [azureml]='azureml-inference-server-http scikit-learn joblib'
    [tritonclient]='tritonclient[http]>=2.40 numpy'
    [kserve]='kserve>=0.13 numpy'
    [mlflow]='mlflow-skinny>=2.10 pandas scipy'
)
declare -A PROBE=(
    [evidently]=evidently
    [azureml]=azureml_inference_server_http
    [tritonclient]=tritonclient.http
    [kserve]=kserve
    [mlflow]=mlflow.pyfunc.scoring_server.client
)

build() {
    local name=$1 venv=.venv-peers/$1
    local spec=${SPEC[$name]:?unknown peer: $name (one of ${!SPEC[*]})}
    if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$spec" ] &&
        "$venv/bin/python" -c "import ${PROBE[$name]}" 2>/dev/null; then
        return
    fi
    mkdir -p .venv-peers
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 - the spec is a list of requirements
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet $spec
    echo "$spec" > "$venv/.installed"
}

if [ $# -eq 0 ]; then
    set -- evidently azureml tritonclient kserve mlflow
fi
for name in "$@"; do
    build "$name"
done
