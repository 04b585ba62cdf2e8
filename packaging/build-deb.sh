#!/usr/bin/env bash
# Builds dist/fulcrum_<version>_<arch>.deb with dpkg-buildpackage from a copy of this checkout in
# which packaging/debian is ./debian. Installs the Debian build dependencies it lacks.
#
#   packaging/build-deb.sh [--output DIR]
#
# FULCRUM_DEB_WORKDIR (default .build-deb/) holds the copy and SwiftPM's build directory
# (FULCRUM_SWIFT_BUILD_DIR overrides the latter); both are kept, so a rebuild after a change
# recompiles only what changed. The version is the top entry of packaging/debian/changelog.
caller_dir="$PWD"
source "$(dirname "$0")/../scripts/lib/common.sh"
cd "$FULCRUM_ROOT"

output="$FULCRUM_ROOT/dist"
while [ $# -gt 0 ]; do
    case "$1" in
        --output) output="${2:?--output needs a directory}"; shift 2 ;;
        --output=*) output="${1#--output=}"; shift ;;
        -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument: $1 (usage: build-deb.sh [--output DIR])" >&2; exit 2 ;;
    esac
done

# What the package is made of. Some come from other parts of the tree; a missing one would
# otherwise surface as an obscure debhelper error halfway through a long build.
inputs=(packaging/debian/control packaging/debian/rules packaging/debian/changelog
        packaging/fulcrum.toml packaging/conf.d/example.toml systemd/fulcrum.service
        docs/man/fulcrumd.8 docs/man/fulcrumctl.8 docs/man/fulcrum.toml.5
        docs/fulcrumctl.bash-completion README.md examples/fulcrum.toml examples/conf.d examples/bird.conf)
missing=()
for f in "${inputs[@]}"; do [ -e "$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-deb.sh: cannot build the package: missing ${missing[*]}" >&2
    exit 1
fi

ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" debhelper dpkg-dev fakeroot rsync

version="$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)"
arch="$(dpkg --print-architecture)"
deb="fulcrum_${version}_${arch}.deb"
work="${FULCRUM_DEB_WORKDIR:-$FULCRUM_ROOT/.build-deb}"
export FULCRUM_SWIFT_BUILD_DIR="${FULCRUM_SWIFT_BUILD_DIR:-$work/swift-build}"
[[ "$output" = /* ]] || output="$caller_dir/$output"
mkdir -p "$work/src" "$output"
output="$(cd "$output" && pwd)"

# rsync leaves unchanged files untouched (same inode and mtime), which is what SwiftPM's
# incremental build compares; a fresh copy would recompile everything.
echo "==> copying the source tree to $work/src"
if git -C "$FULCRUM_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and new files, not ignored ones (.build, dist, editor droppings); a tracked file
    # deleted but not yet committed is skipped.
    git -C "$FULCRUM_ROOT" ls-files -z --cached --others --exclude-standard \
        | rsync -a --delete --from0 --ignore-missing-args --files-from=- "$FULCRUM_ROOT/" "$work/src/"
    # --files-from does not delete: drop what is no longer in the checkout.
    rsync -a --delete --existing --ignore-existing "$FULCRUM_ROOT/" "$work/src/" \
        --exclude=/debian --exclude='/.build*' --exclude=/dist --exclude=/Package.resolved --exclude=/.swiftpm
else
    rsync -a --delete --exclude='/.build*' --exclude=/dist --exclude=/debian "$FULCRUM_ROOT/" "$work/src/"
fi
rsync -a --delete packaging/debian/ "$work/src/debian/"

# `--version` names the commit (Plugins/BuildCommit): the copy has no .git, so the checkout's HEAD
# goes into the copy's .fulcrum-commit; a tree without git gets none and says "unknown commit".
if commit="$(git -C "$FULCRUM_ROOT" rev-parse HEAD 2>/dev/null)"; then
    printf '%s\n' "$commit" > "$work/src/.fulcrum-commit"
else
    rm -f "$work/src/.fulcrum-commit"
fi

echo "==> dpkg-buildpackage ($deb)"
rm -f "$work"/fulcrum_*.deb "$work"/fulcrum_*.buildinfo "$work"/fulcrum_*.changes
start=$SECONDS
(cd "$work/src" && dpkg-buildpackage -b -us -uc)
[ -f "$work/$deb" ] || { echo "build-deb.sh: dpkg-buildpackage made no $deb in $work" >&2; exit 1; }
mv -f "$work/$deb" "$output/$deb"
echo "==> $output/$deb ($(du -h "$output/$deb" | cut -f1), built in $((SECONDS - start)) s)"
