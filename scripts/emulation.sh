#!/usr/bin/env bash
# Make this machine build and run linux/arm64 images: qemu-user-static registered through
# binfmt_misc (with the F flag, so containers use it too), and an arm64 Debian base image with
# Python 3.11 built offline from Debian's mirror (no registry can be reached here). Idempotent:
# each step runs only when its result is missing. Needs the Docker engine (scripts/docker-engine.sh).
#
# Environment: MLOPS_TEST_ARM64_BASE_IMAGE (default mlops-test-base:bookworm-arm64),
# MLOPS_DEBIAN_MIRROR (default: the first mirror in apt's sources), MLOPS_ENGINE_LOG_DIR.
set -euo pipefail

BASE_IMAGE="${MLOPS_TEST_ARM64_BASE_IMAGE:-mlops-test-base:bookworm-arm64}"
SCRIPT=emulation.sh
LOG_PREFIX=emulation
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# 1. qemu for aarch64 in binfmt_misc
if [ ! -x /usr/bin/qemu-aarch64-static ] || ! command -v update-binfmts >/dev/null 2>&1; then
    apt_install qemu-user-static binfmt-support
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    log "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc >>"$RUN_LOG" 2>&1 \
        || fail "cannot mount binfmt_misc (a container without privileges cannot register qemu)"
fi
if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "update-binfmts --enable qemu-aarch64"
    update-binfmts --enable qemu-aarch64 >>"$RUN_LOG" 2>&1 || fail "update-binfmts --enable qemu-aarch64 failed"
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "qemu-aarch64 is not enabled in binfmt_misc"

# 2. the arm64 base image
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    MIRROR=$(debian_mirror)
    TEMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/mlops-arm64.XXXXXX")
    WORK="$TEMP_ROOT"
    ROOTFS="$WORK/rootfs"
    log "debootstrap (first stage, arm64) from $MIRROR into $ROOTFS"
    debootstrap --arch arm64 --foreign --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR" >>"$RUN_LOG" 2>&1 || fail "debootstrap's first stage failed"
    log "debootstrap second stage under qemu"
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$RUN_LOG" 2>&1 \
        || fail "debootstrap's second stage (under qemu) failed"
    # `docker import --platform` needs a multi-platform engine; `docker load` of an image archive
    # whose config says arm64 works on any engine.
    log "loading the root as $BASE_IMAGE (linux/arm64)"
    python3 - "$ROOTFS" "$WORK/image.tar" "$BASE_IMAGE" <<'PY' >>"$RUN_LOG" 2>&1 || fail "cannot write the image archive"
import hashlib, io, json, sys, tarfile, os
rootfs, out, tag = sys.argv[1:4]
layer = os.path.join(os.path.dirname(out), "layer.tar")
subprocess = __import__("subprocess")
subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "-cf", layer, "."], check=True)
digest = hashlib.sha256(open(layer, "rb").read()).hexdigest()
config = {
    "architecture": "arm64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]},
    "history": [{"created_by": "mlops scripts/emulation.sh (debootstrap bookworm arm64)"}],
}
blob = json.dumps(config).encode()
config_name = hashlib.sha256(blob).hexdigest() + ".json"
manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{digest}/layer.tar"]}]
with tarfile.open(out, "w") as tar:
    for name, data in ((config_name, blob), ("manifest.json", json.dumps(manifest).encode())):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    tar.add(layer, arcname=f"{digest}/layer.tar")
PY
    docker load -i "$WORK/image.tar" >>"$RUN_LOG" 2>&1 || fail "docker load of $BASE_IMAGE failed"
fi
[ "$(docker image inspect -f '{{.Architecture}}' "$BASE_IMAGE")" = arm64 ] || fail "$BASE_IMAGE is not an arm64 image"
log "ready"
echo "arm64 emulation ready; base image $BASE_IMAGE present (log: $RUN_LOG)"
