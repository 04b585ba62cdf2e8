"""Backends (iperf3, nginx HTTP, sockperf, hold server) and the contenders in front of them."""
from __future__ import annotations

import csv
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import common
from .common import (BACKEND_PORTS, BENCH_DIR, HOLD_CONTROL_PORT, HOST, LABELS, PORTS, StartError,
    log, tail)
from .procs import group_pids, wait_listening

# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------
def nginx_common(prefix: str) -> str:
    return f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {common.NOFILE};
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
            p = common.REG.spawn(name, argv, stdout=lf, stderr=lf)
        procs[name] = p
        missing = wait_listening(ports, 10, alive=lambda p=p: p.poll() is None)
        if missing:
            raise StartError(f"backend {name} did not come up (not listening on {missing}); "
                             f"exit={p.poll()}; log:\n{tail(logpath)}")
    return procs


def restart_iperf_server(procs: dict) -> None:
    """An iperf3 server can stay busy after a client failed mid-test: start a fresh one."""
    common.REG.stop(procs["iperf3-server"], signal.SIGKILL, grace=1)
    logpath = os.path.join(procs["_dir"], "iperf3-server.log")
    with open(logpath, "ab") as lf:
        p = common.REG.spawn("iperf3-server", ["iperf3", "-s", "-B", HOST, "-p", str(BACKEND_PORTS["iperf"])],
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
            self.proc = common.REG.spawn(self.name, argv, stdout=lf, stderr=lf)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                common.REG.stop(self.proc)
                self.proc = None
                last = (tail(self.logpath, 1).strip() or "(no output)")
                raise StartError(f"{LABELS[self.name]} exited with status {code} at start-up: {last}\n"
                                 f"command: {' '.join(argv)}\n{tail(self.logpath)}")
            if self.ready():
                self.error = None
                return
            time.sleep(0.05)
        common.REG.stop(self.proc, signal.SIGKILL, 1)
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
        code, killed = common.REG.stop(p, signal.SIGTERM, grace=self.stop_grace())
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
    return min(20000, (common.NOFILE - 500) * 2 // 5)


class HAProxy(Contender):
    name = "haproxy"

    def command(self):
        cfg = os.path.join(self.dir, "haproxy.cfg")
        lines = [
            "global",
            "    nbthread 1",
            f"    maxconn {haproxy_maxconn()}",
            f"    ulimit-n {common.NOFILE}",
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
    """fulcrumd with a generated config. `name` selects its ports and directory: "fulcrum" (A, the
    one compared with the peers) or "fulcrum-b" (B, a second build for A/B runs)."""
    name = "fulcrum"

    def __init__(self, workdir: str, binary: str, workers: int, udp: bool, build_error: str | None,
                 name: str = "fulcrum", extra: str = ""):
        self.name = name   # before Contender.__init__, which picks the directory and ports by name
        # Top-level config lines added as they are (FULCRUM_CONFIG / FULCRUM_B_CONFIG), e.g.
        # "busy_poll = 50": one binary, two settings, compared like two builds.
        self.extra = [l.strip() for l in extra.replace(";", "\n").splitlines() if l.strip()]
        super().__init__(workdir)
        self.binary = binary
        self.workers = workers
        self.udp = udp
        self.build_error = build_error
        self.grace_ms = 1000

    def command(self):
        lines = [f"workers = {self.workers}", f"shutdown_grace = {self.grace_ms}", *self.extra, "",
                 # Root: the benchmark needs no account of its own (the privilege drop does not
                 # touch the data plane; a fresh machine may not have the package's _fulcrum).
                 "[process]", 'user = "root"', "",
                 # The status socket lives in the run's directory (/run/fulcrum may not exist).
                 "[status]", f'socket = "{os.path.join(self.dir, "status.sock")}"', ""]
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

    def status(self, command: str = "show stat", timeout: float = 3.0) -> str:
        """One command on fulcrumd's status socket (`<dir>/status.sock`): the reply, which ends
        with an empty line (README.md, "The status socket")."""
        path = os.path.join(self.dir, "status.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            buf = b""
            while not (buf.endswith(b"\n\n") or buf == b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            try:
                s.sendall(b"quit\n")
            except OSError:
                pass
        reply = buf.decode(errors="replace")
        if reply.startswith("error:"):
            raise ValueError(f"status socket: {command!r}: {reply.strip()[:200]}")
        return reply

    def udp_counters(self, listener: str) -> dict:
        """From `show stat`: the UDP listener's datagrams in and dropped (its FRONTEND row) and
        the datagrams sent to the members of the pool of the same name (member rows' udp_din)."""
        lines = [l for l in self.status("show stat").splitlines() if l.strip()]
        if not lines or not lines[0].startswith("# "):
            raise ValueError(f"status socket: 'show stat' reply has no header: {lines[:1]}")
        rows = list(csv.DictReader([lines[0][2:]] + lines[1:]))
        front = [r for r in rows if r.get("pxname") == listener and r.get("svname") == "FRONTEND"]
        members = [r for r in rows if r.get("pxname") == listener and r.get("svname") not in ("FRONTEND", "BACKEND")]
        if not front or not members:
            raise ValueError(f"status socket: no FRONTEND or member rows for {listener!r} in 'show stat'")

        def num(r, k):
            v = (r.get(k) or "").strip()
            return int(v) if v else 0
        return {"datagrams_in": num(front[0], "udp_din"), "dropped": num(front[0], "udp_dropped"),
                "denied": num(front[0], "udp_denied"), "truncated": num(front[0], "udp_truncated"),
                "datagrams_to_member": sum(num(m, "udp_din") for m in members)}

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


class LimitProxy(Contender):
    """A reference proxy from bench/limit/, compiled at start-up into the run's directory: one
    process per proxied port, all children of one bash in one process group (so the group's CPU
    is the proxy's CPU, and one kill stops them all). `wait -n`: if any of them exits, bash exits
    too and the harness sees the contender as dead. SIGPIPE is ignored (inherited across exec),
    as HAProxy, nginx and fulcrumd do for themselves: splice() has no MSG_NOSIGNAL, and
    splice_proxy.c would otherwise die when a peer closes while it writes."""
    source = ""
    cflags: list[str] = []
    memory = False   # a ceiling for traffic, CPU and latency; the memory rows are not its job

    def __init__(self, workdir: str):
        super().__init__(workdir)
        self.binary, self.build_error = compile_limit(self.source, self.dir, self.cflags)

    def processes(self) -> list[list[str]]:
        raise NotImplementedError

    def command(self):
        script = ("trap '' PIPE; " + " ".join(shlex.join(argv) + " &" for argv in self.processes()) +
                  ' wait -n; echo "a proxy process exited with status $?" >&2; exit 1')
        with open(os.path.join(self.dir, "run.sh"), "w") as f:
            f.write(script + "\n")
        return (["bash", "-c", script], os.path.join(self.dir, f"{self.name}-{self.starts}.log"))

    def start(self) -> None:
        if self.build_error:
            self.starts += 1
            raise StartError(self.build_error)
        super().start()

    def ok_exit_codes(self) -> set:
        return {-signal.SIGTERM, 143}

    def version(self) -> str:
        return f"bench/limit/{self.source}, {' '.join(['cc'] + self.cflags)}"


class LimitSplice(LimitProxy):
    """bench/limit/splice_proxy.c (copied from the shared bench-limit directory): epoll + splice,
    TCP only."""
    name = "limit-splice"
    source = "splice_proxy.c"
    cflags = ["-O2"]

    def processes(self):
        return [[self.binary, str(port), str(BACKEND_PORTS[svc])] for svc, port in self.ports.items()]


class LimitCopy(LimitProxy):
    """bench/limit/copy_proxy.c: epoll + recv/send (TCP) and recvfrom/sendto (UDP)."""
    name = "limit-copy"
    source = "copy_proxy.c"
    cflags = ["-O2", "-Wall", "-Werror"]
    udp = True

    def processes(self):
        procs = [[self.binary, "tcp", str(port), str(BACKEND_PORTS[svc])] for svc, port in self.ports.items()]
        procs += [[self.binary, "udp", str(self.ports[svc]), str(BACKEND_PORTS[svc])] for svc in ("iperf", "sockperf")]
        return procs


def compile_limit(source: str, outdir: str, cflags: list[str]) -> tuple[str, str | None]:
    """Compiles bench/limit/SOURCE into OUTDIR; returns (binary, None) or ("", why not)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "", f"no C compiler (cc/gcc) to build bench/limit/{source}"
    out = os.path.join(outdir, os.path.splitext(source)[0])
    argv = [cc] + cflags + ["-o", out, os.path.join(BENCH_DIR, "limit", source)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stdout + r.stderr).strip().splitlines()[-3:]
        return "", f"{' '.join(argv)} failed: {' | '.join(last)}"
    return out, None


def exit_text(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def note_death(c: Contender, when: str) -> None:
    """A contender's process is gone while it should be running: say so loudly, once."""
    p = c.proc
    code = p.returncode if p else None
    if p is not None:
        common.REG.stop(p, signal.SIGKILL, grace=1)  # reap it and whatever is left of its group
        c.proc = None
    msg = f"DIED {when}: {exit_text(code)}; end of its log:\n{tail(c.logpath)}"
    c.events.append(msg)
    c.error = f"died {when}, {exit_text(code)}"
    log(f"    !! {LABELS[c.name]} {msg}")
