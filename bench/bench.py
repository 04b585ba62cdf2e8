#!/usr/bin/env python3
"""Fulcrum side by side with HAProxy and nginx (stream), in one run, as ratios.

Started by bench/run, which installs the tools, builds fulcrumd and passes --fulcrum-bin and
--workdir. Standard library only. See bench/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import fcntl
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"

# Fixed ports, all in 20000-29999 (outside the ephemeral range 32768-60999).
BACKEND_PORTS = {"iperf": 21201, "http": 21080, "sockperf": 21111, "hold": 21200}
HOLD_CONTROL_PORT = 21209
PORTS = {
    "direct": dict(BACKEND_PORTS),
    "haproxy": {"iperf": 22201, "http": 22080, "sockperf": 22111, "hold": 22200},
    "nginx": {"iperf": 23201, "http": 23080, "sockperf": 23111, "hold": 23200},
    "fulcrum": {"iperf": 24201, "http": 24080, "sockperf": 24111, "hold": 24200},
}
CONTENDERS = ["direct", "haproxy", "nginx", "fulcrum"]
LABELS = {"direct": "direct", "haproxy": "HAProxy", "nginx": "nginx", "fulcrum": "Fulcrum"}
PEERS = ["haproxy", "nginx"]

# Tasks in the order they run inside a round. Each task yields one or more metrics.
TASKS = ["tcp1", "tcp8", "conn", "rr", "tcp_pp", "udp_rate", "udp_pp", "mem"]
TASK_LABELS = {
    "tcp1": "TCP bulk, 1 stream", "tcp8": "TCP bulk, 8 streams",
    "conn": "new connections/s", "rr": "kept-alive requests/s",
    "tcp_pp": "TCP ping-pong", "udp_rate": "UDP 64 B rate", "udp_pp": "UDP ping-pong",
    "mem": "idle-connection memory",
}
# key, row label, unit, better, task, number format
METRICS = [
    ("tcp1_gbps", "TCP bulk, 1 stream", "Gbit/s", "higher", "tcp1", "{:.2f}"),
    ("tcp8_gbps", "TCP bulk, 8 streams", "Gbit/s", "higher", "tcp8", "{:.2f}"),
    ("conn_rate", "new conns/s (HTTP, Connection: close)", "conn/s", "higher", "conn", "{:,.0f}"),
    ("rr_rate", "requests/s on kept-alive conns", "req/s", "higher", "rr", "{:,.0f}"),
    ("tcp_lat_avg", "TCP ping-pong 64 B, avg", "µs", "lower", "tcp_pp", "{:.1f}"),
    ("tcp_lat_p99", "TCP ping-pong 64 B, p99", "µs", "lower", "tcp_pp", "{:.1f}"),
    ("udp_kpps", "UDP 64 B datagrams delivered", "kpps", "higher", "udp_rate", "{:.1f}"),
    ("udp_lat_avg", "UDP ping-pong 64 B, avg", "µs", "lower", "udp_pp", "{:.1f}"),
    ("udp_lat_p99", "UDP ping-pong 64 B, p99", "µs", "lower", "udp_pp", "{:.1f}"),
    ("mem_rss_per_conn", "RSS growth per idle conn", "KiB", "lower", "mem", "{:.2f}"),
    ("mem_pipe_total", "pipe buffers held, N idle conns", "KiB", "lower", "mem", "{:,.0f}"),
    ("mem_total_per_conn", "RSS + pipes per idle conn", "KiB", "lower", "mem", "{:.2f}"),
]
FORMATS = {m[0]: m[5] + " " + m[2] for m in METRICS}
# Seconds a measurement takes beyond its nominal duration (tool start-up, warm-up, teardown),
# used only for the time estimate printed up front.
OVERHEAD = {"tcp1": 0.2, "tcp8": 0.2, "conn": 0.1, "rr": 0.1, "tcp_pp": 2.2, "udp_rate": 0.2,
            "udp_pp": 2.2}
MEM_SECONDS = 1.5
RESTART_SECONDS = 1.0

# Descriptor limit the harness and everything it starts run with: raised to 65536 where the
# hard limit allows (root without CAP_SYS_RESOURCE, e.g. in a container, cannot go past it).
NOFILE = 65536

PR_SET_PDEATHSIG = 1
F_GETPIPE_SZ = 1032
ANSI = re.compile(r"\x1b\[[0-9;]*m")

_libc = ctypes.CDLL(None, use_errno=True)


class MeasureError(Exception):
    pass


class StartError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, flush=True)


def tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Processes: every process the harness starts gets its own session (so its whole process group
# can be killed, nginx workers included), SIGKILL on our death (PR_SET_PDEATHSIG), and its
# process-group id in WORKDIR/pgids, which bench/run's trap reads as a backstop.
# --------------------------------------------------------------------------------------------
def _child_setup() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Registry:
    def __init__(self, workdir: str):
        self.pgid_file = os.path.join(workdir, "pgids")
        self.live: dict[int, tuple[str, subprocess.Popen]] = {}
        self._sync()

    def _sync(self) -> None:
        tmp = self.pgid_file + ".tmp"
        with open(tmp, "w") as f:
            for pgid in self.live:
                f.write(f"{pgid}\n")
        os.replace(tmp, self.pgid_file)

    def spawn(self, name: str, argv: list[str], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
              cwd: str | None = None, env: dict | None = None) -> subprocess.Popen:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=cwd,
                             env=env, start_new_session=True, preexec_fn=_child_setup)
        self.live[p.pid] = (name, p)
        self._sync()
        return p

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> tuple[int | None, bool]:
        """Signals p's process group, waits up to grace seconds, then SIGKILLs the group.
        Returns (exit status of p, whether it needed SIGKILL)."""
        killed = False
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                killed = True
        # Whatever is left in the group (nginx workers, a stuck leader) goes now.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.live.pop(p.pid, None)
        self._sync()
        return p.returncode, killed

    def stop_all(self) -> None:
        for pgid, (_, p) in list(self.live.items()):
            self.stop(p, signal.SIGTERM, grace=2.0)


REG: Registry | None = None


def run_tool(name: str, argv: list[str], timeout: float, check: bool = True) -> str:
    """Runs a client tool to completion; returns stdout+stderr; raises MeasureError when it times
    out or (with check) exits non-zero."""
    p = REG.spawn(name, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        REG.stop(p, signal.SIGKILL, grace=1)
        p.communicate()
        raise MeasureError(f"{name} did not finish within {timeout:.0f} s")
    finally:
        if p.poll() is not None:
            REG.live.pop(p.pid, None)
            REG._sync()
    text = ANSI.sub("", out.decode(errors="replace"))
    if check and p.returncode != 0:
        raise MeasureError(f"{name} exited {p.returncode}: {text.strip()[-300:]}")
    return text


# --------------------------------------------------------------------------------------------
# Sockets and /proc helpers
# --------------------------------------------------------------------------------------------
def listening(port: int, udp: bool = False) -> bool:
    """Whether something listens on 127.0.0.1/any:port, read from /proc/net (no connection made)."""
    files = ["/proc/net/udp", "/proc/net/udp6"] if udp else ["/proc/net/tcp", "/proc/net/tcp6"]
    want_state = "07" if udp else "0A"
    for path in files:
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == want_state and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, StopIteration):
            pass
    return False


def wait_listening(ports: list[tuple[int, bool]], timeout: float, alive=None) -> list[tuple[int, bool]]:
    """Waits until every (port, udp) listens; returns the ones that do not by the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [(p, u) for p, u in ports if not listening(p, u)]
        if not missing or time.monotonic() > deadline or (alive and not alive()):
            return missing
        time.sleep(0.05)


def hold_count() -> int:
    with socket.create_connection((HOST, HOLD_CONTROL_PORT), timeout=5) as s:
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
    return int(data.strip())


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def pipe_usage(pids: list[int]) -> tuple[int, int]:
    """(number of distinct pipes, their summed capacity in bytes) held by pids."""
    seen: dict[str, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if not target.startswith("pipe:") or target in seen:
                continue
            size = 65536
            try:
                h = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
                try:
                    size = fcntl.fcntl(h, F_GETPIPE_SZ)
                finally:
                    os.close(h)
            except OSError:
                pass
            seen[target] = size
    return len(seen), sum(seen.values())


def check_http(port: int) -> None:
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"\r\n\r\nok\n"):
        raise MeasureError(f"HTTP check on port {port}: unexpected answer {data[:200]!r}")


def check_echo(port: int, size: int = 8 << 20) -> None:
    """Sends size random bytes through port to the echo backend, half-closes, and checks that
    exactly the same bytes come back followed by EOF."""
    blob = os.urandom(size)
    want = hashlib.sha256(blob).hexdigest()
    s = socket.create_connection((HOST, port), timeout=10)
    err: list[BaseException] = []

    def sender() -> None:
        try:
            s.sendall(blob)
            s.shutdown(socket.SHUT_WR)
        except BaseException as e:  # noqa: BLE001 - reported below
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    received = bytearray()
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    except OSError as e:
        raise MeasureError(f"echo check on port {port}: {e} after {len(received)} of {size} bytes")
    finally:
        t.join(10)
        s.close()
    if err:
        raise MeasureError(f"echo check on port {port}: send failed: {err[0]}")
    if hashlib.sha256(received).hexdigest() == want:
        return
    got = len(received)
    common = min(got, size)
    diff = next((i for i in range(0, common, 4096) if received[i:i + 4096] != blob[i:i + 4096]), None)
    where = "all bytes received match what was sent" if diff is None else f"bytes differ from offset ~{diff}"
    raise MeasureError(f"echo check on port {port}: got {got} bytes back for {size} sent; {where}")


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------
def nginx_common(prefix: str) -> str:
    return f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {NOFILE};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 20000;
}}
"""


def start_backends(workdir: str) -> dict[str, subprocess.Popen]:
    bdir = os.path.join(workdir, "backends")
    os.makedirs(bdir)
    procs = {"_dir": bdir}
    # nginx HTTP server answering "ok\n".
    ndir = os.path.join(bdir, "nginx-http")
    os.makedirs(ndir)
    with open(os.path.join(ndir, "nginx.conf"), "w") as f:
        f.write(nginx_common(ndir) + f"""http {{
    access_log off;
    client_body_temp_path {ndir}/body;
    proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi;
    uwsgi_temp_path {ndir}/uwsgi;
    scgi_temp_path {ndir}/scgi;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    server {{
        listen {HOST}:{BACKEND_PORTS['http']} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "ok\\n";
        }}
    }}
}}
""")
    specs = [
        ("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(BACKEND_PORTS["iperf"])],
         [(BACKEND_PORTS["iperf"], False)]),
        ("nginx-http", ["nginx", "-p", ndir, "-c", f"{ndir}/nginx.conf", "-e", f"{ndir}/error.log"],
         [(BACKEND_PORTS["http"], False)]),
        ("sockperf-tcp", ["sockperf", "server", "--tcp", "-i", HOST, "-p", str(BACKEND_PORTS["sockperf"])],
         [(BACKEND_PORTS["sockperf"], False)]),
        ("sockperf-udp", ["sockperf", "server", "-i", HOST, "-p", str(BACKEND_PORTS["sockperf"])],
         [(BACKEND_PORTS["sockperf"], True)]),
        ("hold", [sys.executable, os.path.join(BENCH_DIR, "holdserver.py"), HOST,
                  str(BACKEND_PORTS["hold"]), str(HOLD_CONTROL_PORT)],
         [(BACKEND_PORTS["hold"], False), (HOLD_CONTROL_PORT, False)]),
    ]
    for name, argv, ports in specs:
        logpath = os.path.join(bdir, f"{name}.log")
        with open(logpath, "wb") as lf:
            p = REG.spawn(name, argv, stdout=lf, stderr=lf)
        procs[name] = p
        missing = wait_listening(ports, 10, alive=lambda p=p: p.poll() is None)
        if missing:
            raise StartError(f"backend {name} did not come up (not listening on {missing}); "
                             f"exit={p.poll()}; log:\n{tail(logpath)}")
    return procs


def restart_iperf_server(procs: dict) -> None:
    """An iperf3 server can stay busy after a client failed mid-test: start a fresh one."""
    REG.stop(procs["iperf3-server"], signal.SIGKILL, grace=1)
    logpath = os.path.join(procs["_dir"], "iperf3-server.log")
    with open(logpath, "ab") as lf:
        p = REG.spawn("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(BACKEND_PORTS["iperf"])],
                      stdout=lf, stderr=lf)
    procs["iperf3-server"] = p
    wait_listening([(BACKEND_PORTS["iperf"], False)], 10)


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------
class Contender:
    name = "?"
    udp = False          # whether it forwards UDP (UDP rows run only then)
    memory = True        # whether the memory rows apply

    def __init__(self, workdir: str):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.ports = PORTS[self.name]
        self.proc: subprocess.Popen | None = None
        self.logpath = ""
        self.error: str | None = None   # why it is not usable right now
        self.events: list[str] = []     # crashes, odd exits: reported at the end
        self.starts = 0

    # Subclasses: write config, return (argv, log path).
    def command(self) -> tuple[list[str], str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return not wait_listening(self.listen_ports(), 0)

    def listen_ports(self) -> list[tuple[int, bool]]:
        ports = [(p, False) for p in self.ports.values()]
        if self.udp:
            ports += [(self.ports["iperf"], True), (self.ports["sockperf"], True)]
        return ports

    def start(self) -> None:
        self.starts += 1
        argv, self.logpath = self.command()
        with open(self.logpath, "wb") as lf:
            self.proc = REG.spawn(self.name, argv, stdout=lf, stderr=lf)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                REG.stop(self.proc)
                self.proc = None
                last = (tail(self.logpath, 1).strip() or "(no output)")
                raise StartError(f"{LABELS[self.name]} exited with status {code} at start-up: {last}\n"
                                 f"command: {' '.join(argv)}\n{tail(self.logpath)}")
            if self.ready():
                self.error = None
                return
            time.sleep(0.05)
        REG.stop(self.proc, signal.SIGKILL, 1)
        self.proc = None
        raise StartError(f"{LABELS[self.name]} did not become ready within 15 s\n"
                         f"command: {' '.join(argv)}\n{tail(self.logpath)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        return group_pids(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is None:
            return
        p = self.proc
        self.proc = None
        code, killed = REG.stop(p, signal.SIGTERM, grace=self.stop_grace())
        if killed:
            self.events.append(f"did not exit within {self.stop_grace():.0f} s of SIGTERM; killed "
                               f"(log {os.path.basename(self.logpath)}:\n{tail(self.logpath, 10)})")
        elif code not in self.ok_exit_codes():
            self.events.append(f"{exit_text(code)} after SIGTERM (expected {sorted(self.ok_exit_codes())}); "
                               f"end of its log:\n{tail(self.logpath, 10)}")

    def stop_grace(self) -> float:
        return 5.0

    def ok_exit_codes(self) -> set:
        return {0, -signal.SIGTERM}

    def version(self) -> str:
        return ""


class Direct(Contender):
    name = "direct"
    udp = True
    memory = False

    def start(self) -> None:
        self.starts += 1

    def alive(self) -> bool:
        return True

    def stop(self) -> None:
        pass


def haproxy_maxconn() -> int:
    """20000, or what the descriptor limit allows: HAProxy reserves two sockets per connection
    plus two fds per splice pipe (maxpipes = maxconn / 4), 2.5 fds per connection in all."""
    return min(20000, (NOFILE - 500) * 2 // 5)


class HAProxy(Contender):
    name = "haproxy"

    def command(self):
        cfg = os.path.join(self.dir, "haproxy.cfg")
        lines = [
            "global",
            "    nbthread 1",
            f"    maxconn {haproxy_maxconn()}",
            f"    ulimit-n {NOFILE}",
            f"    pidfile {self.dir}/haproxy.pid",
            "defaults",
            "    mode tcp",
            "    option splice-request",
            "    option splice-response",
            f"    maxconn {haproxy_maxconn()}",
            "    timeout connect 50s",
            "    timeout client 50s",
            "    timeout server 50s",
        ]
        for svc, port in self.ports.items():
            lines += [f"listen {svc}", f"    bind {HOST}:{port}",
                      f"    server s1 {HOST}:{BACKEND_PORTS[svc]}"]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return ["haproxy", "-db", "-f", cfg], os.path.join(self.dir, f"haproxy-{self.starts}.log")

    def version(self) -> str:
        out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else ""


class NginxStream(Contender):
    name = "nginx"
    udp = True

    def command(self):
        conf = os.path.join(self.dir, "nginx.conf")
        servers = []
        for svc, port in self.ports.items():
            servers.append(f"    server {{ listen {HOST}:{port} backlog=4096; proxy_pass {HOST}:{BACKEND_PORTS[svc]}; }}")
        for svc in ("iperf", "sockperf"):
            servers.append(f"    server {{ listen {HOST}:{self.ports[svc]} udp; proxy_pass {HOST}:{BACKEND_PORTS[svc]}; }}")
        with open(conf, "w") as f:
            f.write("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n" + nginx_common(self.dir) +
                    "stream {\n    proxy_connect_timeout 50s;\n    proxy_timeout 50s;\n"
                    "    proxy_half_close on;\n" +
                    "\n".join(servers) + "\n}\n")
        return (["nginx", "-p", self.dir, "-c", conf, "-e", f"{self.dir}/error.log"],
                os.path.join(self.dir, f"nginx-{self.starts}.log"))

    def ok_exit_codes(self) -> set:
        return {0, -signal.SIGTERM}

    def version(self) -> str:
        return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()


class Fulcrum(Contender):
    name = "fulcrum"

    def __init__(self, workdir: str, binary: str, workers: int, udp: bool, build_error: str | None):
        super().__init__(workdir)
        self.binary = binary
        self.workers = workers
        self.udp = udp
        self.build_error = build_error
        self.grace_ms = 1000

    def command(self):
        lines = [f"workers = {self.workers}", f"shutdown_grace = {self.grace_ms}", ""]
        listeners = [(svc, "TCP", port) for svc, port in self.ports.items()]
        if self.udp:
            listeners += [("iperf_udp", "UDP", self.ports["iperf"]), ("sockperf_udp", "UDP", self.ports["sockperf"])]
        for name, proto, port in listeners:
            backend = BACKEND_PORTS[name.split("_")[0]]
            lines += [f"[listener.{name}]", f'protocol = "{proto}"', f'address = "{HOST}"',
                      f"protocol_port = {port}", f'default_pool = "{name}"', "",
                      f"[pool.{name}.members.m1]", f'address = "{HOST}"', f"protocol_port = {backend}", ""]
        with open(os.path.join(self.dir, "fulcrum.toml"), "w") as f:
            f.write("\n".join(lines))
        return ([self.binary, "--config-dir", self.dir],
                os.path.join(self.dir, f"fulcrumd-{self.starts}.log"))

    def start(self) -> None:
        if self.build_error:
            self.starts += 1
            raise StartError(self.build_error)
        if not self.binary or not os.access(self.binary, os.X_OK):
            self.starts += 1
            raise StartError(f"fulcrumd binary not found or not executable: {self.binary!r}")
        super().start()

    def ready(self) -> bool:
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return "fulcrumd ready" in f.read()
        except OSError:
            return False

    def stop_grace(self) -> float:
        return self.grace_ms / 1000 + 5

    def ok_exit_codes(self) -> set:
        return {0}   # fulcrumd documents exit 0 after a signal

    def exit_stats(self) -> list[str]:
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return [l.rstrip("\n") for l in f if " stats " in l]
        except OSError:
            return []

    def version(self) -> str:
        if not self.binary or not os.access(self.binary, os.X_OK):
            return ""
        r = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return (r.stdout or r.stderr).strip()


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args, contenders: dict[str, Contender], backends: dict):
        self.args = args
        self.T = args.duration
        self.c = contenders
        self.backends = backends
        self.warnings: list[str] = []

    def applies(self, cname: str, task: str) -> bool:
        c = self.c[cname]
        if task in ("udp_rate", "udp_pp"):
            return c.udp
        if task == "mem":
            return c.memory
        return True

    def run_task(self, cname: str, task: str) -> dict:
        c = self.c[cname]
        ports = c.ports
        T = self.T
        if task in ("tcp1", "tcp8"):
            argv = ["iperf3", "-c", HOST, "-p", str(ports["iperf"]), "-t", str(T), "-J"]
            if task == "tcp8":
                argv += ["-P", "8"]
            d = self.iperf(argv, T)
            bps = d["end"]["sum_received"]["bits_per_second"]
            return {f"{task}_gbps": bps / 1e9}
        if task == "udp_rate":
            argv = ["iperf3", "-u", "-b", "0", "-l", "64", "-c", HOST, "-p", str(ports["iperf"]),
                    "-t", str(T), "-J"]
            d = self.iperf(argv, T)
            r = d["end"]["sum_received"]
            delivered = r["packets"] - r["lost_packets"]
            if r["seconds"] <= 0:
                raise MeasureError("iperf3 UDP reported a zero duration")
            sent = d["end"].get("sum_sent", {}).get("packets", 0)
            return {"udp_kpps": delivered / r["seconds"] / 1e3,
                    "_udp_sent_packets": sent, "_udp_delivered_packets": delivered,
                    "_udp_lost_percent": r.get("lost_percent")}
        if task in ("conn", "rr"):
            argv = ["wrk", "-t1", "-c50", f"-d{T}s"]
            if task == "conn":
                argv += ["-H", "Connection: close"]
            argv.append(f"http://{HOST}:{ports['http']}/")
            out = run_tool("wrk", argv, timeout=T + 20)
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            if not m:
                raise MeasureError(f"wrk printed no Requests/sec: {out.strip()[-300:]}")
            res = {("conn_rate" if task == "conn" else "rr_rate"): float(m.group(1))}
            total = re.search(r"(\d+) requests in", out)
            total = int(total.group(1)) if total else 0
            errors = 0
            se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
            if se:
                res["_socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, se.groups())))
                errors += sum(map(int, se.groups()))
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            if bad:
                res["_non_2xx"] = int(bad.group(1))
                errors += int(bad.group(1))
            res["_requests"] = total
            if errors:
                self.warnings.append(f"{LABELS[cname]} {TASK_LABELS[task]}: wrk reported {errors} errors "
                                     f"in {total} requests ({res.get('_socket_errors')}, non-2xx {res.get('_non_2xx', 0)})")
                if total == 0 or errors > 0.01 * total:
                    raise MeasureError(f"wrk: {errors} errors in {total} requests")
            return res
        if task in ("tcp_pp", "udp_pp"):
            argv = ["sockperf", "ping-pong"] + (["--tcp"] if task == "tcp_pp" else []) + \
                   ["-i", HOST, "-p", str(ports["sockperf"]), "-m", "64", "-t", str(T)]
            out = run_tool("sockperf", argv, timeout=T + 20)
            avg = re.search(r"avg-latency=([\d.]+)", out)
            p99 = re.search(r"percentile 99\.000 =\s*([\d.]+)", out)
            if not avg or not p99:
                raise MeasureError(f"sockperf printed no latency figures: {out.strip()[-300:]}")
            proto = "tcp" if task == "tcp_pp" else "udp"
            res = {f"{proto}_lat_avg": float(avg.group(1)), f"{proto}_lat_p99": float(p99.group(1))}
            drops = re.search(r"# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)", out)
            if drops and any(int(x) for x in drops.groups()):
                res["_sockperf_anomalies"] = dict(zip(("dropped", "duplicated", "out_of_order"), map(int, drops.groups())))
                self.warnings.append(f"{LABELS[cname]} {TASK_LABELS[task]}: sockperf saw {res['_sockperf_anomalies']}")
            obs = re.search(r"Total (\d+) observations", out)
            res["_observations"] = int(obs.group(1)) if obs else None
            return res
        if task == "mem":
            return self.memory(c)
        raise AssertionError(task)

    def iperf(self, argv: list[str], T: int) -> dict:
        try:
            out = run_tool("iperf3", argv, timeout=T + 20, check=False)  # -J prints JSON even on failure
        except MeasureError:
            restart_iperf_server(self.backends)
            raise
        try:
            d = json.loads(out[out.index("{"):])
        except ValueError:
            restart_iperf_server(self.backends)
            raise MeasureError(f"iperf3 printed no JSON: {out.strip()[-300:]}")
        if "error" in d:
            restart_iperf_server(self.backends)
            raise MeasureError(f"iperf3: {d['error']}")
        return d

    def memory(self, c: Contender) -> dict:
        n = self.args.mem_conns
        base = hold_count()
        pids = c.pids()
        rss0 = rss_kib(pids)
        pipes0, pipe_bytes0 = pipe_usage(pids)
        socks = []
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(10)
                try:
                    s.connect((HOST, c.ports["hold"]))
                except OSError as e:
                    s.close()
                    raise MeasureError(f"connect #{i + 1} of {n} through {LABELS[c.name]} failed: {e}")
                socks.append(s)
            deadline = time.monotonic() + 20
            while (count := hold_count()) < base + n:
                if time.monotonic() > deadline:
                    raise MeasureError(f"only {count - base} of {n} connections reached the backend "
                                       f"through {LABELS[c.name]} within 20 s")
                if not c.alive():
                    raise MeasureError(f"{LABELS[c.name]} died while connections were being opened")
                time.sleep(0.05)
            time.sleep(1.0)  # idle
            # All n must still be open at both ends.
            count = hold_count()
            if count < base + n:
                raise MeasureError(f"{base + n - count} of {n} idle connections were closed by the backend "
                                   f"side while idle through {LABELS[c.name]}")
            pids = c.pids()
            rss1 = rss_kib(pids)
            pipes1, pipe_bytes1 = pipe_usage(pids)
        finally:
            for s in socks:
                s.close()
        deadline = time.monotonic() + 15
        while (count := hold_count()) > base:
            if time.monotonic() > deadline:
                self.warnings.append(f"{LABELS[c.name]}: {count - base} of {n} backend connections still "
                                     f"open 15 s after the clients closed theirs")
                break
            time.sleep(0.05)
        rss_per = (rss1 - rss0) / n
        return {"mem_rss_per_conn": rss_per,
                "mem_pipe_total": pipe_bytes1 / 1024,
                "mem_total_per_conn": rss_per + pipe_bytes1 / 1024 / n,
                "_rss_before_kib": rss0, "_rss_after_kib": rss1, "_processes": len(pids),
                "_pipes_before": pipes0, "_pipes": pipes1, "_pipe_bytes": pipe_bytes1, "_conns": n}


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def ratio_cell(fval, peer_vals, better):
    peer_vals = [v for v in peer_vals if isinstance(v, (int, float))]
    if not isinstance(fval, (int, float)) or not peer_vals:
        return None, "—"
    best = max(peer_vals) if better == "higher" else min(peer_vals)
    if best == 0:
        if fval == 0:
            return 1.0, "1.00 ✓"
        return None, "n/a (best peer 0)"
    r = fval / best
    ok = r >= 1.0 if better == "higher" else r <= 1.0
    return r, f"{r:.2f}" + (" ✓" if ok else "")


def render_table(medians: dict, errors: dict, n_conns: int) -> str:
    head = ["metric", "unit", "direct", "HAProxy", "nginx", "Fulcrum", "Fulcrum ÷ best peer"]
    rows = []
    for key, label, unit, better, task, fmt in METRICS:
        label = label.replace("N idle", f"{n_conns} idle")
        arrow = "↑" if better == "higher" else "↓"
        cells = []
        for cname in CONTENDERS:
            v = medians[cname].get(key)
            if isinstance(v, (int, float)):
                cells.append(fmt.format(v))
            else:
                cells.append(v or "—")
        _, rc = ratio_cell(medians["fulcrum"].get(key), [medians[p].get(key) for p in PEERS], better)
        rows.append([f"{arrow} {label}", unit] + cells + [rc])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    out = []

    def line(r):
        parts = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [r[i].rjust(widths[i]) for i in range(2, len(r))]
        return "  ".join(parts)
    out.append(line(head))
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append(line(r))
    return "\n".join(out)


def cpu_busy(seconds: float) -> float:
    """Fraction of all CPUs' time spent busy over the next `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(t1 - t0, 1)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def tool_version(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return ANSI.sub("", (r.stdout + r.stderr)).strip().splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return ""


def git_state() -> dict:
    root = os.path.dirname(BENCH_DIR)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "Sources"],
                               capture_output=True, text=True).stdout.strip()
        return {"commit": head, "sources_modified": bool(dirty)}
    except OSError:
        return {}


def exit_text(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def note_death(c: "Contender", when: str) -> None:
    """A contender's process is gone while it should be running: say so loudly, once."""
    p = c.proc
    code = p.returncode if p else None
    if p is not None:
        REG.stop(p, signal.SIGKILL, grace=1)  # reap it and whatever is left of its group
        c.proc = None
    msg = f"DIED {when}: {exit_text(code)}; end of its log:\n{tail(c.logpath)}"
    c.events.append(msg)
    c.error = f"died {when}, {exit_text(code)}"
    log(f"    !! {LABELS[c.name]} {msg}")


def fmt_secs(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


# --------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description="Fulcrum vs HAProxy vs nginx on loopback (see bench/README.md)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; contenders alternate within each (default 3)")
    ap.add_argument("--duration", type=int, default=4, help="seconds per measurement (default 4)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round of 2 s measurements")
    ap.add_argument("--mem-conns", type=int, default=3000, help="idle connections for the memory rows (default 3000)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset to run")
    ap.add_argument("--tasks", default=",".join(TASKS),
                    help=f"comma-separated subset of measurements ({','.join(TASKS)})")
    ap.add_argument("--fulcrum-bin", default=os.environ.get("FULCRUM_BIN", ""))
    ap.add_argument("--fulcrum-build-error", default=None)
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a new temp dir, removed at exit)")
    ap.add_argument("--json", default=os.path.join(BENCH_DIR, "last-run.json"))
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be at least 1")
    selected = [c for c in CONTENDERS if c in args.contenders.split(",")]
    unknown = set(args.contenders.split(",")) - set(CONTENDERS)
    if unknown:
        ap.error(f"unknown contenders {sorted(unknown)}; choose from {','.join(CONTENDERS)}")
    tasks = [t for t in TASKS if t in args.tasks.split(",")]
    unknown = set(args.tasks.split(",")) - set(TASKS)
    if unknown:
        ap.error(f"unknown tasks {sorted(unknown)}; choose from {','.join(TASKS)}")

    own_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="fulcrum-bench.")
    global REG
    REG = Registry(workdir)

    cleaning = False

    def on_signal(signum, frame):
        # The first SIGINT/SIGTERM/SIGHUP interrupts the run; later ones (bench/run's trap sends
        # TERM after the terminal's INT) must not interrupt the clean-up.
        if not cleaning:
            raise KeyboardInterrupt(signal.Signals(signum).name)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    global NOFILE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (max(hard, 65536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            break
        except (ValueError, OSError):
            continue
    NOFILE = min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    if NOFILE < 2 * args.mem_conns + 1000:
        log(f"warning: open-file limit {NOFILE} is low for {args.mem_conns} idle connections")

    workers = int(os.environ.get("FULCRUM_WORKERS", "1"))
    fulcrum_udp = os.environ.get("FULCRUM_UDP", "1") != "0"
    all_c: dict[str, Contender] = {
        "direct": Direct(workdir), "haproxy": HAProxy(workdir), "nginx": NginxStream(workdir),
        "fulcrum": Fulcrum(workdir, args.fulcrum_bin, workers, fulcrum_udp, args.fulcrum_build_error),
    }
    contenders = {k: v for k, v in all_c.items() if k in selected}
    backends: dict = {}
    started = time.monotonic()
    t0 = datetime.datetime.now(datetime.timezone.utc)
    raw: dict = {c: {m[0]: [] for m in METRICS} for c in CONTENDERS}
    raw_extra: dict = {c: {t: [] for t in TASKS} for c in CONTENDERS}
    errors: dict = {c: [] for c in CONTENDERS}
    bench = Bench(args, contenders, backends)
    loadavg_before = open("/proc/loadavg").read().split()[:3]
    busy_before = cpu_busy(1.0)
    interrupted = None
    try:
        # Everything we will bind must be free.
        busy = [(p, u) for p, u in
                [(p, False) for p in list(BACKEND_PORTS.values()) + [HOLD_CONTROL_PORT]] +
                [(BACKEND_PORTS["iperf"], True), (BACKEND_PORTS["sockperf"], True)] if listening(p, u)]
        if busy:
            log(f"error: backend ports already in use: {busy}")
            return 2
        for name, c in contenders.items():
            if name != "direct":
                taken = [p for p, u in c.listen_ports() if listening(p, u)]
                if taken:
                    c.error = f"ports already in use: {taken}"

        plan = []  # (task, contender) per round
        for task in tasks:
            for cname in contenders:
                if bench.applies(cname, task):
                    plan.append((task, cname))
        def cost(task: str) -> float:
            return MEM_SECONDS if task == "mem" else args.duration + OVERHEAD[task]
        per_round = sum(cost(t) for t, _ in plan) + RESTART_SECONDS * (len(contenders) - ("direct" in contenders))
        estimate = 3 + args.rounds * per_round
        remaining = estimate
        log(f"==> {len(plan)} measurements per round x {args.rounds} round(s), {args.duration} s each; "
            f"estimated total {fmt_secs(estimate)} (m:ss)")
        log(f"    Fulcrum: workers = {workers}{', UDP listeners on' if fulcrum_udp else ''}; "
            f"binary {args.fulcrum_bin or '(none)'}")
        if busy_before > 0.2:
            log(f"    note: the CPUs were {busy_before:.0%} busy before the start: something else is running, "
                "absolute numbers will be noisy (same-run ratios hold better)")

        log("==> starting backends (iperf3, nginx http, sockperf tcp+udp, hold/echo server)")
        backends.update(start_backends(workdir))
        check_http(BACKEND_PORTS["http"])
        check_echo(BACKEND_PORTS["hold"])

        for r in range(args.rounds):
            order = list(contenders)
            k = r % len(order)
            order = order[k:] + order[:k]
            log(f"==> round {r + 1}/{args.rounds} (order: {', '.join(LABELS[c] for c in order)})")
            remaining = max(remaining - RESTART_SECONDS * (len(contenders) - ("direct" in contenders)), 0)
            for cname in order:
                c = contenders[cname]
                if c.error and c.error.startswith("ports already in use"):
                    continue
                c.stop()
                try:
                    c.start()
                except StartError as e:
                    c.error = str(e).splitlines()[0]
                    errors[cname].append({"round": r + 1, "task": "start", "error": str(e)})
                    log(f"    {LABELS[cname]}: FAILED TO START: {e}")
                    continue
                try:
                    check_http(c.ports["http"])
                    check_echo(c.ports["hold"])
                except (MeasureError, OSError) as e:
                    msg = f"{LABELS[cname]} round {r + 1}: integrity check failed: {e}"
                    bench.warnings.append(msg)
                    errors[cname].append({"round": r + 1, "task": "check", "error": str(e)})
                    log(f"    {msg}")
            for task in tasks:
                for cname in order:
                    if not bench.applies(cname, task):
                        continue
                    c = contenders[cname]
                    remaining = max(remaining - cost(task), 0)
                    what = f"r{r + 1} {TASK_LABELS[task]:<22} {LABELS[cname]:<8}"

                    def prefix() -> str:  # printed after the measurement: time so far, estimate left
                        return f"    [{fmt_secs(time.monotonic() - started)}, ~{fmt_secs(remaining)} left] {what}"
                    if not c.error and not c.alive():
                        note_death(c, f"between measurements, before {TASK_LABELS[task]} (round {r + 1})")
                    if c.error:
                        log(f"{prefix()} error ({c.error.splitlines()[0][:200]})")
                        if not any(e["round"] == r + 1 and e["task"] in ("start", "down") for e in errors[cname]):
                            errors[cname].append({"round": r + 1, "task": "down", "error": c.error})
                        continue
                    try:
                        res = bench.run_task(cname, task)
                    except (MeasureError, OSError, KeyError, ValueError) as e:
                        res = None
                        errors[cname].append({"round": r + 1, "task": task, "error": str(e)})
                        log(f"{prefix()} error: {e}")
                    if res is not None:
                        for key, val in res.items():
                            if not key.startswith("_"):
                                raw[cname][key].append(val)
                        raw_extra[cname][task].append({"round": r + 1, **res})
                        shown = ", ".join(f"{key} {FORMATS[key].format(val)}" for key, val in res.items()
                                          if key in FORMATS)
                        log(f"{prefix()} {shown}")
                    if not c.alive():
                        note_death(c, f"during {TASK_LABELS[task]} (round {r + 1})")
        log(f"==> done measuring after {fmt_secs(time.monotonic() - started)}; stopping everything")
    except KeyboardInterrupt as e:
        cleaning = True
        interrupted = str(e) or "interrupted"
        log(f"\n==> interrupted ({interrupted}); cleaning up")
    except StartError as e:
        log(f"error: {e}")
        interrupted = f"start-up failed: {e}"
    finally:
        cleaning = True
        fulcrum_stats = []
        for c in contenders.values():
            try:
                c.stop()
            except Exception as ex:  # noqa: BLE001 - never stop cleaning up
                log(f"    stopping {c.name}: {ex}")
            if isinstance(c, Fulcrum) and c.logpath:
                fulcrum_stats = c.exit_stats()
        REG.stop_all()
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    if interrupted:
        return 2 if interrupted.startswith("start-up failed") else 130

    # Medians and report.
    medians: dict = {c: {} for c in CONTENDERS}
    for cname in CONTENDERS:
        for key, label, unit, better, task, fmt in METRICS:
            vals = raw[cname][key]
            if vals:
                medians[cname][key] = statistics.median(vals)
            elif cname not in contenders:
                medians[cname][key] = "—"
            elif not bench.applies(cname, task) or task not in tasks:
                medians[cname][key] = "—"
            elif contenders[cname].error or any(e["task"] in (task, "start", "down") for e in errors[cname]):
                medians[cname][key] = "error"
            else:
                medians[cname][key] = "—"
    table = render_table(medians, errors, args.mem_conns)
    total = time.monotonic() - started
    log("")
    log(f"Fulcrum vs HAProxy vs nginx on loopback — median of {args.rounds} round(s), {args.duration} s per "
        f"measurement, total {fmt_secs(total)}")
    log(table)
    log("↑ higher is better, ↓ lower is better. Ratio = Fulcrum ÷ best of HAProxy and nginx for that row; "
        "✓ = Fulcrum meets it (≥ 1.00 on ↑ rows, ≤ 1.00 on ↓ rows).")
    if not fulcrum_udp:
        log("Fulcrum's UDP cells are — because FULCRUM_UDP=0 (no UDP listeners for it). "
            "HAProxy does not proxy UDP.")
    else:
        log("HAProxy does not proxy UDP: its UDP cells are —.")
    for c in contenders.values():
        for ev in c.events:
            log(f"!! {LABELS[c.name]}: {ev}")
    failed = {c: e for c, e in errors.items() if e}
    if failed:
        log("Errors:")
        for cname, errs in failed.items():
            for e in errs:
                log(f"  {LABELS[cname]} round {e['round']} {e['task']}: {e['error'].splitlines()[0][:300]}")
    if bench.warnings:
        log("Warnings:")
        for w in bench.warnings:
            log(f"  {w}")
    if fulcrum_stats:
        log("fulcrumd's counters at its last exit:")
        for l in fulcrum_stats:
            log(f"  {l}")

    ratios = {}
    for key, label, unit, better, task, fmt in METRICS:
        r, cell = ratio_cell(medians["fulcrum"].get(key), [medians[p].get(key) for p in PEERS], better)
        ratios[key] = {"ratio": r, "cell": cell, "better": better}
    result = {
        "date": t0.isoformat(timespec="seconds"),
        "total_seconds": round(total, 1),
        "host": {"kernel": platform.release(), "cpu": cpu_model(), "cpus": os.cpu_count(),
                 "loadavg_before": loadavg_before, "cpu_busy_before": round(busy_before, 3), "loadavg_after": open("/proc/loadavg").read().split()[:3]},
        "versions": {
            "haproxy": all_c["haproxy"].version(), "nginx": all_c["nginx"].version(),
            "fulcrum": all_c["fulcrum"].version(), "fulcrum_git": git_state(),
            "iperf3": tool_version(["iperf3", "--version"]), "wrk": tool_version(["wrk", "--version"]),
            "sockperf": tool_version(["sockperf", "--version"]).replace("sockperf: ", ""),
        },
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "mem_conns": args.mem_conns,
                     "fulcrum_workers": workers, "fulcrum_udp": fulcrum_udp, "contenders": selected, "tasks": tasks,
                     "nofile": NOFILE, "haproxy_maxconn": haproxy_maxconn(), "nginx_worker_connections": 20000,
                     "ports": PORTS},
        "metrics": [{"key": k, "label": l, "unit": u, "better": b} for k, l, u, b, _, _ in METRICS],
        "raw": raw, "raw_detail": raw_extra, "medians": medians, "ratios": ratios,
        "errors": errors, "warnings": bench.warnings,
        "events": {c.name: c.events for c in contenders.values() if c.events},
        "fulcrum_exit_stats": fulcrum_stats,
        "interrupted": interrupted,
        "table": table,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log(f"JSON: {args.json}")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
