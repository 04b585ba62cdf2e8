#!/usr/bin/env bash
# The Debian package's tests, as root on a Debian 12 machine: contents, metadata, lintian,
# install, the daemon run as the unit runs it, purge, reinstall, upgrade, and (unless
# FULCRUM_DEB_CHROOT=0) an install into a fresh Debian 12 chroot without Swift, which is then
# booted with systemd as PID 1 by systemd-nspawn (unless FULCRUM_DEB_NSPAWN=0).
#
#   packaging/test-deb.sh [DEB]        # builds the .deb with build-deb.sh when none is given
#
# Each check prints PASS or FAIL; the exit status is 1 when any failed. An installed fulcrum
# package is purged first (with its /etc/fulcrum): run it on a test or CI machine. It needs
# port 80 on 127.0.0.1 free. Afterwards the package is purged again and every temporary file,
# process and mount removed; the debootstrap tarball stays in /var/cache/fulcrum-test.
caller_dir="$PWD"
source "$(dirname "$0")/../scripts/lib/common.sh"
cd "$FULCRUM_ROOT"

if [ "$(id -u)" -ne 0 ]; then
    echo "test-deb.sh: must run as root (it installs and purges the package)" >&2
    exit 1
fi

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# check "what" command...: PASS when the command succeeds; its output is shown on failure.
check() {
    local what="$1" out
    shift
    if out="$("$@" 2>&1)"; then pass "$what"; else fail "$what"; printf '%s\n' "$out" | sed 's/^/    /' | head -40; fi
}
# field NAME: a field of the /proc/PID/status text in $proc_status, its values space-separated.
field() { awk -v f="$1:" '$1 == f {$1 = ""; print substr($0, 2)}' <<<"$proc_status"; }
section_start=$SECONDS section_name=""
# section NAME: starts the next part, saying how long the previous one took.
section() {
    [ -z "$section_name" ] || echo "--- $section_name took $((SECONDS - section_start)) s"
    echo "--- $*"
    section_start=$SECONDS section_name="$*"
}

# lintian, systemd-analyze (systemd), setpriv (util-linux), curl, python3 (the member), adduser,
# objdump and readelf (binutils), ps (procps), ss (iproute2),
# debootstrap for the chroot.
ensure_packages lintian systemd util-linux curl python3 adduser debootstrap iproute2 binutils procps

scratch="$(mktemp -d /tmp/fulcrum-deb-test.XXXXXX)"
chmod 0755 "$scratch"
pids=()
chroot_dir="" machine=""
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # A booted container takes a moment to power off on SIGTERM; do not wait for ever.
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$chroot_dir" ]; then
        umount "$chroot_dir/proc" 2>/dev/null || true
        rm -rf --one-file-system "$chroot_dir"
    fi
    [ -z "$machine" ] || rm -rf "/run/systemd/nspawn/propagate/$machine"
    if dpkg-query -W -f='${Status}' fulcrum 2>/dev/null | grep -q 'ok installed\|config-files'; then
        dpkg --purge fulcrum >/dev/null 2>&1 || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
section "build"
deb="${1:-}"
if [ -z "$deb" ]; then
    bash packaging/build-deb.sh --output "$scratch/dist"
    deb="$(ls "$scratch"/dist/fulcrum_*.deb)"
fi
[[ "$deb" = /* ]] || deb="$caller_dir/$deb"
deb="$(readlink -f "$deb")"
[ -f "$deb" ] || { echo "test-deb.sh: no such package: $deb" >&2; exit 1; }
version="$(dpkg-deb -f "$deb" Version)"
upstream="${version%-*}"
echo "package: $deb ($version, $(du -h "$deb" | cut -f1), Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB)"

# ---------------------------------------------------------------------------------------------
section "contents"
# Every path with its mode and owner; nothing more, nothing less. The examples follow the tree.
expected="$scratch/expected" actual="$scratch/actual"
{
    cat <<'EOF'
drwxr-xr-x root/root ./
drwxr-xr-x root/root ./etc/
drwxr-xr-x root/root ./etc/fulcrum/
drwxr-xr-x root/root ./etc/fulcrum/conf.d/
-rw-r--r-- root/root ./etc/fulcrum/conf.d/example.toml
-rw-r--r-- root/root ./etc/fulcrum/fulcrum.toml
drwxr-xr-x root/root ./lib/
drwxr-xr-x root/root ./lib/systemd/
drwxr-xr-x root/root ./lib/systemd/system/
-rw-r--r-- root/root ./lib/systemd/system/fulcrum.service
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/fulcrumctl
drwxr-xr-x root/root ./usr/sbin/
-rwxr-xr-x root/root ./usr/sbin/fulcrumd
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/bash-completion/
drwxr-xr-x root/root ./usr/share/bash-completion/completions/
-rw-r--r-- root/root ./usr/share/bash-completion/completions/fulcrumctl
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/fulcrum/
-rw-r--r-- root/root ./usr/share/doc/fulcrum/README.md.gz
-rw-r--r-- root/root ./usr/share/doc/fulcrum/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/fulcrum/copyright
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/fulcrum
drwxr-xr-x root/root ./usr/share/doc/fulcrum/examples/
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man5/
-rw-r--r-- root/root ./usr/share/man/man5/fulcrum.toml.5.gz
drwxr-xr-x root/root ./usr/share/man/man8/
-rw-r--r-- root/root ./usr/share/man/man8/fulcrumctl.8.gz
-rw-r--r-- root/root ./usr/share/man/man8/fulcrumd.8.gz
EOF
    (cd examples && find . -mindepth 1 -type d -printf 'drwxr-xr-x root/root ./usr/share/doc/fulcrum/examples/%P/\n' \
        -o -type f -printf '-rw-r--r-- root/root ./usr/share/doc/fulcrum/examples/%P\n')
} | sort > "$expected"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort > "$actual"
check "dpkg-deb -c lists exactly the expected paths, modes and owners" diff -u "$expected" "$actual"

# ---------------------------------------------------------------------------------------------
section "metadata"
check "conffiles are the two shipped config files" \
    diff -u <(printf '/etc/fulcrum/conf.d/example.toml\n/etc/fulcrum/fulcrum.toml\n') \
            <(dpkg-deb -I "$deb" conffiles | sort)
depends="$(dpkg-deb -f "$deb" Depends)"
echo "Depends: $depends"
depends_names=" $(printf '%s' "$depends" | tr ',|' '\n\n' | awk '{print $1}' | tr '\n' ' ') "
# procps: /bin/kill for the unit's ExecReload= (the booted-container test shows why).
for pkg in adduser libc6 libssl3 procps; do
    check "Depends names $pkg" grep -q " $pkg " <<<"$depends_names"
done
check "Section net, Priority optional" test "$(dpkg-deb -f "$deb" Section Priority | tr '\n' ' ')" = "Section: net Priority: optional "
extract="$scratch/extract"
dpkg-deb -x "$deb" "$extract"
# Every shared library the binaries load must come from a package named in Depends.
covered() {
    local bin="$1" lib path owner p missing=""
    for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
        path="$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x32|AArch64|64bit/ {print $NF; exit}')"
        [ -n "$path" ] || path="$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')"
        [ -n "$path" ] || { echo "$lib: not found on this machine"; return 1; }
        # merged /usr: dpkg knows each file under one of its two names.
        owner=""
        for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr$path"; do
            owner="$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1)"
            [ -z "$owner" ] || break
        done
        grep -q " $owner " <<<"$depends_names" || missing+=" $lib($owner)"
    done
    [ -z "$missing" ] || { echo "not covered by Depends:$missing"; return 1; }
}
for bin in usr/sbin/fulcrumd usr/bin/fulcrumctl; do
    check "every library $bin needs is in Depends" covered "$extract/$bin"
    check "$bin loads no Swift runtime (libswift*, libFoundation*, libicu*, libdispatch)" \
        bash -c "! ldd '$extract/$bin' | grep -E 'libswift|libFoundation|libicu|libdispatch|libBlocksRuntime'"
    check "$bin is stripped (no .symtab)" bash -c "! readelf -S '$extract/$bin' | grep -q '\.symtab'"
done
if objdump -p "$extract/usr/sbin/fulcrumd" | grep -q 'NEEDED.*libcap'; then
    check "Depends names libcap2 (fulcrumd links libcap)" grep -q " libcap2 " <<<"$depends_names"
fi
check "postinst creates _fulcrum before the unit is enabled" \
    awk '/adduser --system/ {a = NR} /deb-systemd-helper/ && !d {d = NR} END {exit !(a && d && a < d)}' \
        <(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./postinst)

# ---------------------------------------------------------------------------------------------
section "lintian"
if lintian_out="$(lintian --fail-on error,warning --display-info "$deb" 2>&1)"; then
    pass "lintian: no errors or warnings"
else
    fail "lintian: errors or warnings"
fi
# (grep finds nothing when lintian said nothing else: not a failure.)
printf '%s\n' "$lintian_out" | { grep -v 'running with root privileges' || true; } | sed 's/^/    /'

# ---------------------------------------------------------------------------------------------
section "install"
dpkg --purge fulcrum >/dev/null 2>&1 || true
check "dpkg -i installs the package" dpkg -i "$deb"
passwd_line="$(getent passwd _fulcrum || true)"
check "user _fulcrum exists" test -n "$passwd_line"
check "_fulcrum is a system user (uid < 1000)" test "$(cut -d: -f3 <<<"$passwd_line")" -lt 1000
check "_fulcrum has the nologin shell" test "$(cut -d: -f7 <<<"$passwd_line")" = /usr/sbin/nologin
check "_fulcrum's home /nonexistent was not created" \
    bash -c "test '$(cut -d: -f6 <<<"$passwd_line")' = /nonexistent && ! test -e /nonexistent"
check "group _fulcrum exists and is _fulcrum's primary group" \
    test "$(getent group _fulcrum | cut -d: -f3)" = "$(cut -d: -f4 <<<"$passwd_line")"
# The release and the commit it was built from ("0.1.0 (git 1a2b3c4d5e6f)"): build-deb.sh records
# the commit in its copy of the tree, which has no .git.
version_line="$upstream \\(git [0-9a-f]{12}\\)"
check "fulcrumd --version prints $upstream and the commit" bash -c "/usr/sbin/fulcrumd --version | grep -qxE '$version_line'"
check "fulcrumctl --version prints $upstream and the commit" bash -c "/usr/bin/fulcrumctl --version | grep -qxE '$version_line'"
check "fulcrumctl --help" bash -c "/usr/bin/fulcrumctl --help | grep -q 'USAGE: fulcrumctl'"
check "the shipped configuration passes --check-config" /usr/sbin/fulcrumd --check-config --config-dir /etc/fulcrum
check "/etc/fulcrum is 0755 root:root" test "$(stat -c '%a %U:%G' /etc/fulcrum)" = "755 root:root"
# The example drop-in, uncommented, is a valid configuration too.
uncommented="$scratch/uncommented"
mkdir -p "$uncommented/conf.d"
sed -e 's/^# \(\[\)/\1/' -e 's/^# \([a-z_]* = \)/\1/' /etc/fulcrum/conf.d/example.toml > "$uncommented/conf.d/50-web.toml"
check "conf.d/example.toml uncommented defines a listener and passes --check-config" \
    bash -c "/usr/sbin/fulcrumd --check-config --config-dir '$uncommented' | grep -q '1 listener'"
# verify exits 0 even for an unknown key; what it says about the unit names the unit's path.
check "systemd-analyze verify accepts fulcrum.service without a complaint" \
    bash -c "out=\$(systemd-analyze verify /lib/systemd/system/fulcrum.service 2>&1) || exit 1; echo \"\$out\"; ! grep -q fulcrum.service <<<\"\$out\""
exposure="$(systemd-analyze security --offline=true /lib/systemd/system/fulcrum.service 2>&1 \
    | sed -n 's/.*Overall exposure level for fulcrum.service: \([0-9.]*\).*/\1/p')"
echo "systemd-analyze security exposure: ${exposure:-none}"
check "systemd-analyze security exposure <= 2.0" awk -v e="$exposure" 'BEGIN {exit !(e != "" && e <= 2.0)}'
check "fulcrum.service enabled on install (multi-user.target.wants link)" \
    test "$(readlink /etc/systemd/system/multi-user.target.wants/fulcrum.service)" = /lib/systemd/system/fulcrum.service
if [ "$(ps -p 1 -o comm=)" = systemd ]; then
    check "fulcrum.service is active after install" systemctl is-active --quiet fulcrum.service
    check "fulcrumctl status answers on the unit's socket" fulcrumctl status --socket /run/fulcrum/status.sock
else
    echo "SKIP: fulcrum.service active after install: PID 1 is $(ps -p 1 -o comm=), not systemd, so nothing is started"
fi

# ---------------------------------------------------------------------------------------------
section "run as the unit does"
# setpriv reproduces User=_fulcrum with AmbientCapabilities= and CapabilityBoundingSet= of the
# unit: port 80 on loopback forwarded to a python3 member, the status socket answering.
member_dir="$scratch/member" run_conf="$scratch/conf" run_dir="$scratch/run"
mkdir -p "$member_dir" "$run_conf" "$run_dir"
token="fulcrum-deb-test-$RANDOM$RANDOM"
echo "$token" > "$member_dir/token.txt"
chown _fulcrum:_fulcrum "$run_dir"
free_port() {
    local port
    for port in $(shuf -i 20000-60000 -n 50); do
        ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return 0; }
    done
    return 1
}
member_port="$(free_port)"
(cd "$member_dir" && exec python3 -m http.server --bind 127.0.0.1 "$member_port" >/dev/null 2>&1) &
pids+=($!)
# web_on_port_80 MEMBER_PORT: a TCP listener on 127.0.0.1:80 whose pool is one member.
web_on_port_80() {
    printf '%s\n' '[listener.web]' 'protocol = "TCP"' 'address = "127.0.0.1"' 'protocol_port = 80' \
        'default_pool = "web"' '[pool.web]' 'lb_algorithm = "ROUND_ROBIN"' '[pool.web.members.m1]' \
        'address = "127.0.0.1"' "protocol_port = $1"
}
{
    printf '%s\n' 'shutdown_grace = 1000' '[status]' "socket = \"$run_dir/status.sock\""
    web_on_port_80 "$member_port"
} > "$run_conf/fulcrum.toml"
chmod -R a+rX "$run_conf"
caps="+net_bind_service,+net_admin,+net_raw"
as_unit() {
    local set="$1"
    shift
    # exec: run in the background, the function's subshell becomes fulcrumd, so $! is its PID.
    exec setpriv --reuid=_fulcrum --regid=_fulcrum --init-groups \
        --inh-caps="-all,$set" --ambient-caps="-all,$set" --bounding-set="-all,$set" "$@"
}
if ss -Htln 'sport = :80' | grep -q .; then
    fail "port 80 is already in use on this machine; cannot run the daemon test"
else
    as_unit "$caps" /usr/sbin/fulcrumd --config-dir "$run_conf" 2>"$scratch/daemon.log" &
    daemon=$!
    pids+=("$daemon")
    body=""
    for _ in $(seq 1 100); do
        body="$(curl -s --max-time 2 "http://127.0.0.1:80/token.txt" || true)"
        [ "$body" = "$token" ] && [ -S "$run_dir/status.sock" ] && break
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.1
    done
    check "curl through port 80 (as _fulcrum with the three capabilities) gets the member's body" test "$body" = "$token"
    check "fulcrumd runs as _fulcrum" test "$(ps -o user= -p "$daemon" 2>/dev/null | tr -d ' ')" = _fulcrum
    check "fulcrumctl status answers on the status socket" \
        bash -c "fulcrumctl status --socket '$run_dir/status.sock' | grep -q web"
    kill -TERM "$daemon" 2>/dev/null || true
    rc=0; wait "$daemon" || rc=$?
    check "fulcrumd exits 0 on SIGTERM" test "$rc" -eq 0
    [ "$rc" -eq 0 ] || sed 's/^/    /' "$scratch/daemon.log" | tail -20
    # Without CAP_NET_BIND_SERVICE the bind of port 80 must fail with a message naming it.
    rc=0
    timeout 10 bash -c "$(declare -f as_unit); as_unit +net_admin,+net_raw /usr/sbin/fulcrumd --config-dir '$run_conf'" \
        >/dev/null 2>"$scratch/nocap.log" || rc=$?
    check "without CAP_NET_BIND_SERVICE fulcrumd exits non-zero (not killed by the timeout)" \
        bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
    check "without CAP_NET_BIND_SERVICE stderr names CAP_NET_BIND_SERVICE" grep -q CAP_NET_BIND_SERVICE "$scratch/nocap.log"
    sed 's/^/    stderr: /' "$scratch/nocap.log" | tail -5

    # Started as root outside systemd with no [process] user: once port 80 is bound fulcrumd
    # becomes the package's _fulcrum and keeps only CAP_NET_BIND_SERVICE (bit 10, 0x400): this
    # configuration has no PING monitor (CAP_NET_RAW) and no [ha] (CAP_NET_ADMIN).
    /usr/sbin/fulcrumd --config-dir "$run_conf" 2>"$scratch/root.log" &
    daemon=$!
    pids+=("$daemon")
    body=""
    for _ in $(seq 1 100); do
        body="$(curl -s --max-time 2 "http://127.0.0.1:80/token.txt" || true)"
        [ "$body" = "$token" ] && break
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.1
    done
    check "started as root: curl through port 80 gets the member's body" test "$body" = "$token"
    uid="$(id -u _fulcrum)" gid="$(id -g _fulcrum)"
    proc_status="$(cat "/proc/$daemon/status" 2>/dev/null || true)"
    check "started as root: real/effective/saved uid are _fulcrum's ($uid)" \
        test "$(field Uid)" = "$uid $uid $uid $uid"
    check "started as root: real/effective/saved gid are _fulcrum's ($gid)" \
        test "$(field Gid)" = "$gid $gid $gid $gid"
    for set in CapEff CapPrm CapBnd; do
        check "started as root: $set is exactly CAP_NET_BIND_SERVICE (got $(field $set))" \
            test "$(field $set)" = 0000000000000400
    done
    check "started as root: CapInh and CapAmb are empty" \
        test "$(field CapInh) $(field CapAmb)" = "0000000000000000 0000000000000000"
    # One start line such as "privileges capabilities=cap_net_bind_service user=_fulcrum".
    check "started as root: the start log names the capabilities held and the user" \
        bash -c "grep -i 'privileges' '$scratch/root.log' | grep -i 'cap_net_bind_service' | grep -q '_fulcrum' || { cat '$scratch/root.log'; false; }"
    kill -TERM "$daemon" 2>/dev/null || true
    rc=0; wait "$daemon" || rc=$?
    check "started as root: fulcrumd exits 0 on SIGTERM" test "$rc" -eq 0
fi

# ---------------------------------------------------------------------------------------------
section "purge"
mkdir -p /run/fulcrum
echo '# operator drop-in' > /etc/fulcrum/conf.d/50-mine.toml
check "dpkg --purge" dpkg --purge fulcrum
check "/etc/fulcrum is gone (operator drop-ins too)" test ! -e /etc/fulcrum
check "/run/fulcrum is gone" test ! -e /run/fulcrum
check "/usr/sbin/fulcrumd is gone" test ! -e /usr/sbin/fulcrumd
check "/lib/systemd/system/fulcrum.service is gone" test ! -e /lib/systemd/system/fulcrum.service
check "the multi-user.target.wants link is gone" test ! -L /etc/systemd/system/multi-user.target.wants/fulcrum.service
check "user _fulcrum is gone" bash -c "! getent passwd _fulcrum"
check "group _fulcrum is gone" bash -c "! getent group _fulcrum"
check "dpkg no longer knows the package" bash -c "! dpkg -L fulcrum >/dev/null 2>&1"

# ---------------------------------------------------------------------------------------------
section "reinstall and upgrade"
check "reinstall after purge" dpkg -i "$deb"
check "reinstall recreated _fulcrum" getent passwd _fulcrum
check "reinstall: shipped configuration passes --check-config" /usr/sbin/fulcrumd --check-config --config-dir /etc/fulcrum
# A second package, one version up, whose two conffiles both changed: the one the operator
# edited must be kept (the new one beside it as .dpkg-dist), the untouched one upgraded.
v2="$version+test1"
tree="$scratch/v2"
dpkg-deb -R "$deb" "$tree"
sed -i "s/^Version: .*/Version: $v2/" "$tree/DEBIAN/control"
echo "# packaged in $v2" >> "$tree/etc/fulcrum/fulcrum.toml"
echo "# packaged in $v2" >> "$tree/etc/fulcrum/conf.d/example.toml"
dpkg-deb -Zgzip -z1 -b --root-owner-group "$tree" "$scratch/fulcrum_v2.deb" >/dev/null
echo "# edited by the operator" >> /etc/fulcrum/fulcrum.toml
check "upgrade to $v2 with --force-confold" dpkg -i --force-confold "$scratch/fulcrum_v2.deb"
check "installed version is $v2" test "$(dpkg-query -W -f='${Version}' fulcrum)" = "$v2"
check "the edited conffile kept the operator's edit" grep -qx '# edited by the operator' /etc/fulcrum/fulcrum.toml
check "the edited conffile did not take the package's change" bash -c "! grep -q 'packaged in' /etc/fulcrum/fulcrum.toml"
check "the package's version is beside it as fulcrum.toml.dpkg-dist" grep -q "packaged in $v2" /etc/fulcrum/fulcrum.toml.dpkg-dist
check "the untouched conffile was upgraded" grep -q "packaged in $v2" /etc/fulcrum/conf.d/example.toml
check "the configuration still passes --check-config after the upgrade" \
    /usr/sbin/fulcrumd --check-config --config-dir /etc/fulcrum
check "purge after the upgrade" dpkg --purge fulcrum
check "nothing left in /etc/fulcrum after purge" test ! -e /etc/fulcrum

# ---------------------------------------------------------------------------------------------
# The same chroot booted with systemd as PID 1 (systemd-nspawn, sharing the host's network):
# what only a running systemd shows. The unit starts at boot because the package enabled it,
# its sandbox lets fulcrumd run, ExecReload= refuses a broken drop-in and applies a good one,
# an upgrade restarts the service, and purge stops it before removing the user.
boot_container() {
    section "systemd as PID 1 in the chroot (systemd-nspawn)"
    ensure_packages systemd-container
    check "systemd installs in the chroot" chroot "$chroot_dir" bash -c \
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv dbus"
    umount "$chroot_dir/proc"
    machine="fulcrum-test-$$"
    # --register=no --keep-unit: no machined or host D-Bus needed, which a CI machine may lack.
    systemd-nspawn -q -D "$chroot_dir" -b --register=no --keep-unit -M "$machine" --console=pipe \
        </dev/null >"$scratch/nspawn.log" 2>&1 &
    nspawn_pid=$!
    pids+=("$nspawn_pid")
    # nspawn's first child is a short-lived helper that forks the container's PID 1 and exits
    # (a CI run caught the helper's PID and every nsenter then found it gone), so the init is
    # the child of nspawn that lives in a PID namespace other than ours, looked up until found.
    host_pid_ns="$(readlink /proc/self/ns/pid)"
    container_init_pid() {
        local child ns
        for child in $(ps --ppid "$nspawn_pid" -o pid= 2>/dev/null); do
            ns="$(readlink "/proc/$child/ns/pid" 2>/dev/null || true)"
            if [ -n "$ns" ] && [ "$ns" != "$host_pid_ns" ]; then echo "$child"; return; fi
        done
    }
    init_pid=""
    for _ in $(seq 1 300); do
        init_pid="$(container_init_pid)"
        [ -n "$init_pid" ] && break
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
    done
    in_container() { nsenter -t "$init_pid" -a "$@"; }
    # Until its D-Bus is up systemctl cannot even ask; then --wait waits for the boot to end.
    state=""
    for _ in $(seq 1 120); do
        [ -n "$init_pid" ] && kill -0 "$init_pid" 2>/dev/null || init_pid="$(container_init_pid)"
        if [ -z "$init_pid" ]; then
            kill -0 "$nspawn_pid" 2>/dev/null || { state="systemd-nspawn exited"; break; }
            state="no container init under systemd-nspawn $nspawn_pid"
            sleep 0.5
            continue
        fi
        state="$(timeout 60 nsenter -t "$init_pid" -a systemctl is-system-running --wait 2>&1 || true)"
        case "$state" in running|degraded|maintenance|stopping) break ;; esac
        sleep 0.5
    done
    # If nspawn has to be killed, its container's PID 1 (and so everything in it) goes too.
    [ -z "$init_pid" ] || pids+=("$init_pid")
    if [ "$state" != running ] && [ "$state" != degraded ]; then
        fail "the container boots (systemctl is-system-running: ${state:-no answer})"
        tail -20 "$scratch/nspawn.log"
        return
    fi
    pass "the container boots (systemctl is-system-running: $state)"
    check "fulcrum.service is active at boot (the package enabled it)" in_container systemctl is-active --quiet fulcrum.service
    check "fulcrumctl status answers on /run/fulcrum/status.sock" \
        in_container fulcrumctl status --socket /run/fulcrum/status.sock
    main_pid="$(in_container systemctl show -P MainPID fulcrum.service)"
    proc_status="$(in_container cat "/proc/$main_pid/status" 2>/dev/null || true)"
    container_uid="$(in_container id -u _fulcrum)"
    check "the service runs as _fulcrum ($container_uid)" \
        test "$(field Uid)" = "$container_uid $container_uid $container_uid $container_uid"
    # CapabilityBoundingSet= is the three capabilities, minus any the container itself lacks
    # (nspawn keeps CAP_NET_ADMIN when it shares the host's network).
    init_bnd="$(in_container awk '$1 == "CapBnd:" {print $2}' /proc/1/status)"
    unit_bnd="$(printf '%016x' $(( 0x$init_bnd & 0x3400 )))"
    check "the service's CapBnd is CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW as the container allows ($unit_bnd)" \
        test "$(field CapBnd)" = "$unit_bnd"
    check "the service holds CAP_NET_BIND_SERVICE and nothing outside the three (CapEff $(field CapEff))" \
        test $(( 0x$(field CapEff) & 0x400 )) -ne 0 -a $(( 0x$(field CapEff) & ~0x3400 )) -eq 0
    if [ -n "${member_port:-}" ]; then
        cat > "$chroot_dir/etc/fulcrum/conf.d/60-bad.toml" <<'TOML'
[listener.broken
TOML
        check "systemctl reload refuses a broken drop-in (ExecReload= checks first)" \
            bash -c "! nsenter -t '$init_pid' -a systemctl reload fulcrum.service"
        check "the service is still active after the refused reload" in_container systemctl is-active --quiet fulcrum.service
        rm -f "$chroot_dir/etc/fulcrum/conf.d/60-bad.toml"
        web_on_port_80 "$member_port" > "$chroot_dir/etc/fulcrum/conf.d/50-web.toml"
        check "systemctl reload applies a drop-in with a listener on port 80" in_container systemctl reload fulcrum.service
        body=""
        for _ in $(seq 1 50); do
            body="$(curl -s --max-time 2 "http://127.0.0.1:80/token.txt" || true)"
            [ "$body" = "$token" ] && break
            sleep 0.1
        done
        check "curl through the service's port 80 gets the member's body" test "$body" = "$token"
        [ "$body" = "$token" ] || in_container journalctl -u fulcrum.service --no-pager | tail -15 | sed 's/^/    /'
    fi
    # (The container's /tmp is its own tmpfs.)
    cp "$scratch/fulcrum_v2.deb" "$chroot_dir/var/tmp/"
    check "upgrade under systemd (dpkg -i --force-confold)" \
        in_container env DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold /var/tmp/fulcrum_v2.deb
    check "the upgrade restarted the service (new MainPID)" \
        bash -c "p=\$(nsenter -t '$init_pid' -a systemctl show -P MainPID fulcrum.service); [ \"\$p\" != 0 ] && [ \"\$p\" != '$main_pid' ]"
    check "the service is active after the upgrade" in_container systemctl is-active --quiet fulcrum.service
    check "purge under systemd" in_container dpkg --purge fulcrum
    check "the service is stopped by the purge" bash -c "! nsenter -t '$init_pid' -a systemctl is-active --quiet fulcrum.service"
    check "purge under systemd removed _fulcrum and /etc/fulcrum" \
        bash -c "! nsenter -t '$init_pid' -a getent passwd _fulcrum && [ ! -e '$chroot_dir/etc/fulcrum' ]"
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
}

if [ "${FULCRUM_DEB_CHROOT:-1}" != 0 ]; then
    section "Debian 12 chroot without Swift"
    # The packages debootstrap downloads are kept in a tarball, so later runs do not fetch them.
    cache=/var/cache/fulcrum-test
    tarball="$cache/bookworm-minbase-$(dpkg --print-architecture).tgz"
    mirror=http://deb.debian.org/debian
    mkdir -p "$cache"
    chroot_dir="$scratch/chroot"
    t0=$SECONDS
    if [ ! -s "$tarball" ]; then
        debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$scratch/tarball-work" "$mirror" \
            >"$scratch/debootstrap-tarball.log" 2>&1 && mv "$tarball.tmp" "$tarball" \
            || { tail -20 "$scratch/debootstrap-tarball.log"; rm -f "$tarball.tmp"; }
        rm -rf "$scratch/tarball-work"
        echo "debootstrap --make-tarball: $((SECONDS - t0)) s"
    fi
    t0=$SECONDS
    if [ -s "$tarball" ] && debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$chroot_dir" "$mirror" \
        >"$scratch/debootstrap.log" 2>&1; then
        pass "debootstrap bookworm minbase ($((SECONDS - t0)) s)"
        cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
        mount -t proc proc "$chroot_dir/proc"
        cp "$deb" "$chroot_dir/tmp/"
        t0=$SECONDS
        check "apt-get install ./$(basename "$deb") in the chroot (Depends from the mirror)" \
            chroot "$chroot_dir" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/$(basename "$deb")"
        echo "apt-get install in the chroot: $((SECONDS - t0)) s"
        check "the chroot has no Swift toolchain or runtime" \
            bash -c "! find '$chroot_dir' -xdev \( -name 'libswift*' -o -name 'swift' -o -name 'libFoundation*.so' \) | grep -q ."
        check "chroot: fulcrumd --version" bash -c "chroot '$chroot_dir' /usr/sbin/fulcrumd --version | grep -qxE '$version_line'"
        check "chroot: fulcrumd --check-config on the shipped configuration" \
            chroot "$chroot_dir" /usr/sbin/fulcrumd --check-config --config-dir /etc/fulcrum
        check "chroot: user _fulcrum created" chroot "$chroot_dir" getent passwd _fulcrum
        # A short run on loopback: a listener on a high port and the status socket answering.
        mkdir -p "$chroot_dir/tmp/conf"
        cat > "$chroot_dir/tmp/conf/fulcrum.toml" <<EOF
shutdown_grace = 500
[status]
socket = "/tmp/status.sock"
[listener.web]
protocol = "TCP"
address = "127.0.0.1"
protocol_port = $(free_port)
default_pool = "web"
[pool.web]
lb_algorithm = "ROUND_ROBIN"
[pool.web.members.m1]
address = "127.0.0.1"
protocol_port = 9
EOF
        chroot "$chroot_dir" /usr/sbin/fulcrumd --config-dir /tmp/conf 2>"$scratch/chroot-daemon.log" &
        daemon=$!
        pids+=("$daemon")
        for _ in $(seq 1 50); do [ -S "$chroot_dir/tmp/status.sock" ] && break; sleep 0.1; done
        check "chroot: fulcrumd runs and fulcrumctl status answers" \
            bash -c "chroot '$chroot_dir' /usr/bin/fulcrumctl status --socket /tmp/status.sock | grep -q web"
        kill -TERM "$daemon" 2>/dev/null || true
        rc=0; wait "$daemon" || rc=$?
        check "chroot: fulcrumd exits 0 on SIGTERM" test "$rc" -eq 0
        [ "$rc" -eq 0 ] || tail -20 "$scratch/chroot-daemon.log"

        if [ "${FULCRUM_DEB_NSPAWN:-1}" != 0 ]; then
            boot_container
        else
            echo "SKIP: booted container (FULCRUM_DEB_NSPAWN=0)"
        fi
    else
        fail "debootstrap bookworm minbase into $chroot_dir"
        tail -20 "$scratch/debootstrap.log" 2>/dev/null || true
    fi
else
    echo "SKIP: Debian 12 chroot (FULCRUM_DEB_CHROOT=0)"
fi
section "summary"

if [ "$failures" -gt 0 ]; then
    echo "test-deb.sh: $failures check(s) failed"
    exit 1
fi
echo "test-deb.sh: all checks passed"
