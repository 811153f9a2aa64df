#!/usr/bin/env bash
# Start a local Docker engine when none answers, and build the offline Python base image
# the integration tests use (no registry can be reached here). Safe to run repeatedly.
#
# Every run logs to its own file under $MLOPS_ENGINE_LOG_DIR (default /tmp/mlops-docker-engine);
# a failure says which step failed, why (the tail of that step's output), and where the whole
# log is. The debootstrap root is removed whatever happens (it is about 300 MB).
#
# Environment: MLOPS_TEST_BASE_IMAGE (default mlops-test-base:bookworm), MLOPS_DEBIAN_MIRROR
# (default: the first mirror in apt's sources), MLOPS_ENGINE_LOG_DIR, DOCKERD_LOG.
set -euo pipefail

BASE_IMAGE="${MLOPS_TEST_BASE_IMAGE:-mlops-test-base:bookworm}"
SCRIPT=docker-engine.sh
LOG_PREFIX=run
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
LOG="${DOCKERD_LOG:-$LOG_DIR/dockerd-$(date -u +%Y%m%dT%H%M%SZ)-$$.log}"

log "start: base image $BASE_IMAGE"
if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null 2>&1 || apt_install docker.io
    # No bridge and no iptables: containers use host networking and listen on 127.0.0.1.
    log "starting dockerd, its log: $LOG"
    setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$LOG" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 20 "$LOG" >>"$RUN_LOG" 2>/dev/null || true
        fail "the docker engine did not answer within 60 s (dockerd's log: $LOG)"
    fi
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    MIRROR=$(debian_mirror)
    TEMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/mlops-rootfs.XXXXXX")
    ROOTFS="$TEMP_ROOT"
    log "debootstrap bookworm from $MIRROR into $ROOTFS"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR" >>"$RUN_LOG" 2>&1; then
        # debootstrap's own log says why (a mirror that does not answer, a missing package).
        if [ -f "$ROOTFS/debootstrap/debootstrap.log" ]; then
            tail -n 20 "$ROOTFS/debootstrap/debootstrap.log" >>"$RUN_LOG"
        fi
        fail "debootstrap could not build the base image's root from $MIRROR"
    fi
    log "importing the root as $BASE_IMAGE"
    tar -C "$ROOTFS" -c . | docker import - "$BASE_IMAGE" >>"$RUN_LOG" 2>&1 \
        || fail "docker import of the base image $BASE_IMAGE failed"
fi
log "ready"
echo "docker engine ready; base image $BASE_IMAGE present (log: $RUN_LOG)"
