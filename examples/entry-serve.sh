# Sourced by examples/entry-*/run.sh: serve a registered entry-script version, POST one body to
# its /score, stop the server and check the audit trail.
#   serve_and_score NAME BODY [READY_SECONDS]   (the first serve may build the environment)
serve_and_score() {
    local name=$1 body=$2 wait=${3:-60}
    local port
    port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mlops serve "$name" --port "$port" &
    local server=$!
    trap "kill $server 2>/dev/null || true" EXIT
    for _ in $(seq 1 $((wait * 5))); do
        curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
        sleep 0.2
    done
    curl -sf -X POST "http://127.0.0.1:$port/score" -H 'Content-Type: application/json' -d "$body"
    echo
    kill "$server" && wait "$server" || true
    mlops audit verify
}
