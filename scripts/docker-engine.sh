#!/usr/bin/env bash
# Start a local Docker engine when none answers, and build the offline Python base image
# the integration tests use (no registry can be reached here). Safe to run repeatedly.
set -euo pipefail

BASE_IMAGE="${MLOPS_TEST_BASE_IMAGE:-mlops-test-base:bookworm}"
LOG="${DOCKERD_LOG:-/tmp/mlops-dockerd.log}"

if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    fi
    # No bridge and no iptables: containers use host networking and listen on 127.0.0.1.
    nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$LOG" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "docker engine did not start; see $LOG" >&2; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
    if [ -z "$MIRROR" ]; then
        MIRROR=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
    fi
    ROOTFS=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR" >/tmp/mlops-debootstrap.log 2>&1
    tar -C "$ROOTFS" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$ROOTFS"
fi
echo "docker engine ready; base image $BASE_IMAGE present"
