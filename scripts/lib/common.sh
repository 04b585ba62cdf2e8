# Shared by scripts/demo and scripts/test: install what is missing, find the repo.
set -euo pipefail

FULCRUM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# ensure_packages PKG...: apt-get install the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            [ -x "$dir/swift" ] && export PATH="$dir:$PATH" && return 0
        done
        echo "swift not found: install the Swift toolchain (https://www.swift.org/install/linux/) first" >&2
        exit 1
    fi
}

# Build-time needs: the Swift toolchain links with gcc's C++ runtime, the C shim needs kernel
# headers via libc, HTTPS health checks link OpenSSL, the privilege drop links libcap.
BUILD_PACKAGES=(build-essential libstdc++-12-dev libc6-dev pkg-config libssl-dev libcap-dev)

# run_logged LOG TITLE CMD...: one progress line instead of the command's output (a build prints
# ~230 compiler lines), which goes to LOG in full. On failure: the last 80 lines of LOG, where
# the full log is, and the command's exit status. Compiler warnings are counted, so a new one
# shows without reading the log.
run_logged() {
    local log=$1 title=$2 rc=0
    shift 2
    mkdir -p "$(dirname "$log")"
    echo "==> $title (log: ${log#"$FULCRUM_ROOT"/})"
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "--- last 80 lines of $log ---" >&2
        tail -n 80 "$log" >&2
        echo "--- $title failed (exit status $rc); full log: $log ---" >&2
        return "$rc"
    fi
    local warnings
    warnings=$(grep -c ": warning: " "$log" || true)
    [ "$warnings" -eq 0 ] || echo "    $warnings compiler warnings: grep ': warning: ' $log"
}
