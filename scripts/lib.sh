# Shared by scripts/docker-engine.sh and scripts/emulation.sh (sourced, not run): one log file
# per run, one way to fail (what failed, the tail of the log, where the whole log is), apt
# installs, Debian's mirror, and a temporary root removed whatever happens (it is hundreds of MB).
#
# Before sourcing: `set -euo pipefail`, SCRIPT (the name errors start with) and LOG_PREFIX (the
# run log's name). After: put a temporary folder in TEMP_ROOT and it is unmounted and removed
# on exit, interruption or failure. Environment: MLOPS_ENGINE_LOG_DIR, MLOPS_DEBIAN_MIRROR.

LOG_DIR="${MLOPS_ENGINE_LOG_DIR:-/tmp/mlops-docker-engine}"
mkdir -p "$LOG_DIR"
RUN_LOG="$LOG_DIR/${LOG_PREFIX}-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
TEMP_ROOT=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >>"$RUN_LOG"; }

fail() {
    # $1: what failed. The reason is the tail of the run log.
    echo "$SCRIPT: $1" >&2
    if [ -s "$RUN_LOG" ]; then
        echo "  last lines of the log:" >&2
        tail -n 8 "$RUN_LOG" | sed 's/^/  | /' >&2
    fi
    echo "  full log: $RUN_LOG" >&2
    exit 1
}

remove_temp_root() {
    if [ -n "$TEMP_ROOT" ] && [ -d "$TEMP_ROOT" ]; then
        # debootstrap mounts /proc and /sys inside the root: unmount before removing anything.
        awk -v root="$TEMP_ROOT" '$2 == root || index($2, root "/") == 1 {print $2}' /proc/mounts \
            | sort -r | while read -r mounted; do umount -l "$mounted" 2>/dev/null || true; done
        rm -rf --one-file-system "$TEMP_ROOT"
        log "removed the temporary root $TEMP_ROOT"
    fi
}
trap remove_temp_root EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_install() {
    log "apt-get install $*"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >>"$RUN_LOG" 2>&1 \
        || fail "apt-get install $* failed"
}

debian_mirror() {
    # Prints MLOPS_DEBIAN_MIRROR, else the first mirror in apt's sources; fails when there is none.
    local mirror="${MLOPS_DEBIAN_MIRROR:-}"
    [ -n "$mirror" ] || mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || fail "no Debian mirror found in apt's sources; set MLOPS_DEBIAN_MIRROR"
    printf '%s\n' "$mirror"
}
