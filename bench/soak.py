#!/usr/bin/env python3
"""Soak: MINUTES of mixed, checked TCP/UDP traffic through one fulcrumd while members die and
the configuration reloads; fails on corruption, failed reloads, leaks or errors nobody caused.

Started by bench/soak (which builds fulcrumd); standard library only. On 127.0.0.1, ports
26100-26129 (bench/ keeps to 20000-29999, below the ephemeral range):

  listener soak_tcp 26100 -> pool soak_tcp: members t1 t2 t3 (26111-26113), t4 (26114) added and
                             removed by reloads; retries = 3, so a dead member's refused connects
                             are retried on the others
  listener soak_udp 26101 -> pool soak_udp: members u1 u2 (26121-26122); sessions idle out after 3 s

Traffic (each check byte for byte):
  - 6 threads of short TCP connections, sizes log-uniform from 1 B to 1 MiB, half "G" (the member
    generates a seeded stream the client regenerates and compares), half "H" (the client sends a
    seeded stream, the member answers its SHA-256);
  - 1 thread of long transfers: 32 MiB generated streams, compared 64 KiB at a time;
  - 2 threads of UDP request/response (1-1400 B, sequence-numbered, echoed), each opening a new
    source socket (a new session) every 200 requests.
Chaos: every 15 s one member (t1 t2 t3 u1 u2 in turn) is SIGKILLed and restarted 3 s later on its
port; every 20 s a SIGHUP reload, alternately changing t1's weight (1 <-> 3) and adding or removing
t4. A reload counts as ok when fulcrumd logs "configuration reloaded" within 10 s.

SOAK_CORRUPT_MEMBER=t2 makes member t2 flip one bit in the second 64 KiB of every stream it
generates: a check of the harness itself, which must then fail with "corruption".

Every 10 s one line: elapsed, fulcrumd RSS and descriptors, TCP ok/errors/corrupt, UDP
ok/lost/corrupt, reloads ok/failed, member kills. Exit 1 on:
  - any corrupt byte (a reply that differs from what was sent or generated: never excusable);
  - any failed reload;
  - an error or a lost datagram that no member death explains: an operation that failed although
    it did not overlap [kill, restart + 2 s] of a member of its protocol;
  - descriptor growth: max of the last 3 samples above the warm-up sample (30 s, after the first
    kill and reload) + 4 x (client concurrency) descriptors. A connection in flight holds at most
    4 (client side, member side, and two splice pipes' ends borrowed from the worker's pipe pool,
    which keeps idle pipes for reuse), so concurrency, not time, bounds honest growth; a leak of
    one descriptor per connection exceeds it within seconds (thousands of connections a minute);
  - RSS growth: max of the last 3 samples above the warm-up sample + SOAK_RSS_SLACK_MB (default
    24 MB: measured noise is 0.1 MB per run, a 1 KB-per-connection leak crosses it in 2 minutes);
  - after traffic stops, descriptors that do not return to the idle count before traffic within
    10 s (UDP sessions idle out after 3 s) beyond the pipe-pool allowance above;
  - fulcrumd dying, or not exiting 0 on SIGTERM at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
TCP_LISTEN, UDP_LISTEN = 26100, 26101
TCP_MEMBERS = {"t1": 26111, "t2": 26112, "t3": 26113, "t4": 26114}
UDP_MEMBERS = {"u1": 26121, "u2": 26122}
KILL_ORDER = ["t1", "t2", "t3", "u1", "u2"]
SHORT_THREADS, LONG_THREADS, UDP_THREADS = 6, 1, 2
CONCURRENCY = SHORT_THREADS + LONG_THREADS + UDP_THREADS
KILL_EVERY, DOWN_FOR, RELOAD_EVERY, SAMPLE_EVERY = 15.0, 3.0, 20.0, 10.0
WARMUP = 30.0
EXCUSE_AFTER_RESTART = 2.0
LONG_SIZE = 32 << 20
CHUNK = 64 << 10
HEADER = struct.Struct("!cQQ")  # mode, size, seed


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Members: run as separate processes (`soak.py member tcp|udp PORT`) so they can be SIGKILLed.

def recv_exact(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        b = sock.recv(min(n - got, 1 << 20))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def generated(seed: int, size: int):
    """The seeded stream, in CHUNK pieces (both ends generate it the same way)."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def serve_tcp_client(conn: socket.socket) -> None:
    with conn:
        header = recv_exact(conn, HEADER.size)
        if len(header) < HEADER.size:
            return
        mode, size, seed = HEADER.unpack(header)
        if mode == b"G":
            for i, chunk in enumerate(generated(seed, size)):
                if CORRUPT and i == 1:  # the harness's own check (SOAK_CORRUPT_MEMBER)
                    chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
                conn.sendall(chunk)
        elif mode == b"H":
            h, got = hashlib.sha256(), 0
            while got < size:
                b = conn.recv(min(size - got, 1 << 20))
                if not b:
                    return  # short: no digest, the client sees an error
                h.update(b)
                got += len(b)
            conn.sendall(h.digest())


CORRUPT = False


def run_member(kind: str, port: int) -> None:
    if kind == "tcp":
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((HOST, port))
        srv.listen(512)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=lambda c=conn: _guard(serve_tcp_client, c), daemon=True).start()
    else:
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((HOST, port))
        while True:
            data, peer = srv.recvfrom(65536)
            srv.sendto(data, peer)


def _guard(fn, *args) -> None:
    try:
        fn(*args)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The harness.

class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.c = dict(tcp_ok=0, tcp_err=0, tcp_corrupt=0, udp_ok=0, udp_lost=0, udp_corrupt=0,
                      reload_ok=0, reload_failed=0, kills=0, bytes=0)
        self.failures: list[tuple[str, float, float, str]] = []  # proto, start, end, what
        self.corruptions: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.c[key] += n

    def fail(self, proto: str, start: float, end: float, what: str) -> None:
        with self.lock:
            self.c["tcp_err" if proto == "tcp" else "udp_lost"] += 1
            self.failures.append((proto, start, end, what))

    def corrupt(self, proto: str, what: str) -> None:
        with self.lock:
            self.c[proto + "_corrupt"] += 1
            if len(self.corruptions) < 20:
                self.corruptions.append(what)

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.c)


class Soak:
    def __init__(self, binary: str, minutes: float, workdir: str, rss_slack_mb: float) -> None:
        self.binary, self.minutes, self.workdir = binary, minutes, workdir
        self.rss_slack_mb = rss_slack_mb
        self.stats = Stats()
        self.stop = threading.Event()
        self.members: dict[str, subprocess.Popen] = {}
        self.down: list[list] = []  # [member, kill time, restart time or None]
        self.down_lock = threading.Lock()
        self.weight_high = False
        self.with_t4 = False
        self.daemon: subprocess.Popen | None = None
        self.log_path = os.path.join(workdir, "fulcrumd.log")
        self.t0 = time.monotonic()

    # -- processes ------------------------------------------------------------------------------

    def start_member(self, name: str) -> None:
        kind, port = ("tcp", TCP_MEMBERS[name]) if name in TCP_MEMBERS else ("udp", UDP_MEMBERS[name])
        corrupt = ["corrupt"] if os.environ.get("SOAK_CORRUPT_MEMBER") == name else []
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "member", kind, str(port)] + corrupt,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.members[name] = p
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready when its port is bound
            if kind == "tcp":
                try:
                    socket.create_connection((HOST, port), timeout=0.2).close()
                    return
                except OSError:
                    pass
            else:
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    probe.bind((HOST, port))
                except OSError:
                    return  # bound by the member
                finally:
                    probe.close()
            time.sleep(0.05)
        raise SystemExit(f"soak: member {name} did not come up on port {port}")

    def write_config(self) -> None:
        lines = ["workers = 2", "shutdown_grace = 2000", "",
                 "[status]", f'socket = "{os.path.join(self.workdir, "status.sock")}"', ""]
        if os.getuid() == 0:
            lines += ["[process]", 'user = "root"', ""]
        lines += ["[listener.soak_tcp]", 'protocol = "TCP"', f'address = "{HOST}"',
                  f"protocol_port = {TCP_LISTEN}", 'default_pool = "soak_tcp"', "",
                  "[pool.soak_tcp]", "retries = 3", ""]
        for name in ["t1", "t2", "t3"] + (["t4"] if self.with_t4 else []):
            weight = 3 if (name == "t1" and self.weight_high) else 1
            lines += [f"[pool.soak_tcp.members.{name}]", f'address = "{HOST}"',
                      f"protocol_port = {TCP_MEMBERS[name]}", f"weight = {weight}", ""]
        lines += ["[listener.soak_udp]", 'protocol = "UDP"', f'address = "{HOST}"',
                  f"protocol_port = {UDP_LISTEN}", 'default_pool = "soak_udp"', "timeout_client_data = 3000", "",
                  "[pool.soak_udp]", ""]
        for name, port in UDP_MEMBERS.items():
            lines += [f"[pool.soak_udp.members.{name}]", f'address = "{HOST}"', f"protocol_port = {port}", ""]
        tmp = os.path.join(self.workdir, "conf", "fulcrum.toml.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines))
        os.replace(tmp, os.path.join(self.workdir, "conf", "fulcrum.toml"))

    def start_daemon(self) -> None:
        os.makedirs(os.path.join(self.workdir, "conf"), exist_ok=True)
        self.write_config()
        self.log_file = open(self.log_path, "w+")
        self.daemon = subprocess.Popen([self.binary, "--config-dir", os.path.join(self.workdir, "conf")],
                                       stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "fulcrumd ready" in self.read_log():
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("soak: fulcrumd did not become ready:\n" + self.read_log()[-4000:])

    def read_log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def proc_sample(self) -> tuple[float, int]:
        pid = self.daemon.pid
        rss = 0.0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
        return rss, len(os.listdir(f"/proc/{pid}/fd"))

    # -- traffic --------------------------------------------------------------------------------

    def tcp_op(self, rng: random.Random, size: int, mode: bytes) -> None:
        seed = rng.getrandbits(63)
        start = time.monotonic()
        what = f"{mode.decode()} {size} B seed {seed}"
        try:
            with socket.create_connection((HOST, TCP_LISTEN), timeout=20) as s:
                s.sendall(HEADER.pack(mode, size, seed))
                if mode == b"G":
                    got = 0
                    for want in generated(seed, size):
                        have = recv_exact(s, len(want))
                        if have != want[:len(have)]:
                            self.stats.corrupt("tcp", f"{what}: bytes differ at offset >= {got}")
                            return
                        got += len(have)
                        if len(have) < len(want):
                            self.stats.fail("tcp", start, time.monotonic(), f"{what}: EOF after {got} B")
                            return
                    if s.recv(1):
                        self.stats.corrupt("tcp", f"{what}: bytes beyond the stream")
                        return
                else:
                    h = hashlib.sha256()
                    for chunk in generated(seed, size):
                        h.update(chunk)
                        s.sendall(chunk)
                    s.shutdown(socket.SHUT_WR)
                    digest = recv_exact(s, 32)
                    if len(digest) < 32:
                        self.stats.fail("tcp", start, time.monotonic(), f"{what}: no digest")
                        return
                    if digest != h.digest():
                        self.stats.corrupt("tcp", f"{what}: member's digest differs")
                        return
            self.stats.add("tcp_ok")
            self.stats.add("bytes", size)
        except OSError as e:
            self.stats.fail("tcp", start, time.monotonic(), f"{what}: {e}")

    def short_loop(self, index: int) -> None:
        rng = random.Random(1000 + index)
        while not self.stop.is_set():
            size = min(1 << 20, int(2 ** rng.uniform(0, 20)))
            self.tcp_op(rng, size, b"G" if rng.random() < 0.5 else b"H")

    def long_loop(self, index: int) -> None:
        rng = random.Random(2000 + index)
        while not self.stop.is_set():
            self.tcp_op(rng, LONG_SIZE, b"G")

    def udp_loop(self, index: int) -> None:
        rng = random.Random(3000 + index)
        seq = 0
        while not self.stop.is_set():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(1.0)
                s.connect((HOST, UDP_LISTEN))
                for _ in range(200):
                    if self.stop.is_set():
                        return
                    seq += 1
                    payload = struct.pack("!Q", seq) + rng.randbytes(rng.randint(1, 1392))
                    start = time.monotonic()
                    try:
                        s.send(payload)
                        while True:
                            reply = s.recv(65536)
                            if reply[:8] == payload[:8]:
                                break
                            if len(reply) < 8 or struct.unpack("!Q", reply[:8])[0] > seq:
                                self.stats.corrupt("udp", f"datagram {seq}: reply for an unsent sequence")
                                break
                            # a late reply to an earlier datagram counted lost: skip it
                        if reply == payload:
                            self.stats.add("udp_ok")
                        elif reply[:8] == payload[:8]:
                            self.stats.corrupt("udp", f"datagram {seq} ({len(payload)} B): reply differs ({len(reply)} B)")
                    except OSError as e:  # timeout, or ECONNREFUSED from an ICMP error
                        self.stats.fail("udp", start, time.monotonic(), f"datagram {seq}: {e}")

    # -- chaos ----------------------------------------------------------------------------------

    def kill_and_restart(self, name: str) -> None:
        p = self.members[name]
        with self.down_lock:
            entry = [name, time.monotonic(), None]
            self.down.append(entry)
        p.kill()
        p.wait()
        self.stats.add("kills")
        time.sleep(DOWN_FOR)
        self.start_member(name)
        with self.down_lock:
            entry[2] = time.monotonic()

    def reload(self, n: int) -> None:
        if n % 2 == 0:
            self.weight_high = not self.weight_high
        else:
            self.with_t4 = not self.with_t4
        self.write_config()
        before = self.read_log().count("configuration reload")
        self.daemon.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.read_log()
            if text.count("configuration reload") > before:
                tail = text.split("configuration reload")[-1]
                if tail.startswith("ed"):
                    self.stats.add("reload_ok")
                else:
                    self.stats.add("reload_failed")
                    log("soak: reload refused: " + tail.splitlines()[0])
                return
            time.sleep(0.05)
        self.stats.add("reload_failed")
        log("soak: no reload line within 10 s of SIGHUP")

    def excused(self, proto: str, start: float, end: float) -> bool:
        with self.down_lock:
            for name, killed, restarted in self.down:
                if (name in TCP_MEMBERS) != (proto == "tcp"):
                    continue
                until = (restarted or time.monotonic()) + EXCUSE_AFTER_RESTART
                if start <= until and end >= killed:
                    return True
        return False

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> int:
        for name in list(TCP_MEMBERS) + list(UDP_MEMBERS):
            self.start_member(name)
        self.start_daemon()
        time.sleep(0.5)
        _, idle_fds = self.proc_sample()
        log(f"soak: fulcrumd pid {self.daemon.pid} ready; {idle_fds} descriptors idle; "
            f"{self.minutes:g} min of traffic, log {self.log_path}")
        threads = [threading.Thread(target=self.short_loop, args=(i,), daemon=True) for i in range(SHORT_THREADS)]
        threads += [threading.Thread(target=self.long_loop, args=(i,), daemon=True) for i in range(LONG_THREADS)]
        threads += [threading.Thread(target=self.udp_loop, args=(i,), daemon=True) for i in range(UDP_THREADS)]
        for t in threads:
            t.start()
        self.t0 = time.monotonic()
        duration = self.minutes * 60
        # Chaos stops 10 s before the end: the last stretch runs with every member up.
        chaos_until = duration - 10
        next_kill, next_reload, next_sample = KILL_EVERY, RELOAD_EVERY, SAMPLE_EVERY
        kills = reloads = 0
        samples: list[tuple[float, float, int]] = []
        warm: tuple[float, int] | None = None
        killer: threading.Thread | None = None
        problems: list[str] = []
        while True:
            now = time.monotonic() - self.t0
            if self.daemon.poll() is not None:
                problems.append(f"fulcrumd exited ({self.daemon.returncode}) during the soak")
                break
            if now >= duration:
                break
            if now >= next_kill and now < chaos_until and (killer is None or not killer.is_alive()):
                name = KILL_ORDER[kills % len(KILL_ORDER)]
                kills += 1
                killer = threading.Thread(target=self.kill_and_restart, args=(name,), daemon=True)
                killer.start()
                next_kill += KILL_EVERY
            if now >= next_reload and now < chaos_until:
                self.reload(reloads)
                reloads += 1
                next_reload += RELOAD_EVERY
            if now >= next_sample:
                rss, fds = self.proc_sample()
                samples.append((now, rss, fds))
                c = self.stats.snapshot()
                log(f"  {now:5.0f} s  rss {rss:6.1f} MB  fds {fds:4d} | tcp ok {c['tcp_ok']:6d} err {c['tcp_err']:3d} "
                    f"corrupt {c['tcp_corrupt']} | udp ok {c['udp_ok']:6d} lost {c['udp_lost']:3d} "
                    f"corrupt {c['udp_corrupt']} | reloads ok {c['reload_ok']} failed {c['reload_failed']} "
                    f"| kills {c['kills']}")
                if warm is None and now >= WARMUP:
                    warm = (rss, fds)
                next_sample += SAMPLE_EVERY
            time.sleep(0.05)
        self.stop.set()
        for t in threads:
            t.join(timeout=60)
        if killer is not None:
            killer.join(timeout=15)
        c = self.stats.snapshot()

        # Verdicts.
        if c["tcp_corrupt"] or c["udp_corrupt"]:
            problems.append(f"corruption: {c['tcp_corrupt']} TCP, {c['udp_corrupt']} UDP: " + "; ".join(self.stats.corruptions[:5]))
        if c["reload_failed"]:
            problems.append(f"{c['reload_failed']} failed reloads")
        unexcused = [f for f in self.stats.failures if not self.excused(f[0], f[1], f[2])]
        if unexcused:
            problems.append(f"{len(unexcused)} errors with every member up, e.g. " +
                            "; ".join(f"{p} at {s - self.t0:.1f} s: {w}" for p, s, _, w in unexcused[:5]))
        fd_slack = 4 * CONCURRENCY
        if warm is not None and len(samples) >= 3:
            last = samples[-3:]
            max_rss, max_fds = max(s[1] for s in last), max(s[2] for s in last)
            if max_fds > warm[1] + fd_slack:
                problems.append(f"descriptors grew: {warm[1]} at warm-up, {max_fds} at the end (bound +{fd_slack})")
            if max_rss > warm[0] + self.rss_slack_mb:
                problems.append(f"RSS grew: {warm[0]:.1f} MB at warm-up, {max_rss:.1f} MB at the end "
                                f"(bound +{self.rss_slack_mb:g} MB)")
            log(f"soak: warm-up rss {warm[0]:.1f} MB fds {warm[1]}; last 3 samples max rss {max_rss:.1f} MB fds {max_fds}")
        elif not problems:
            problems.append("too short to judge growth: run at least 1 minute")
        if self.daemon.poll() is None:
            deadline = time.monotonic() + 10
            fds = self.proc_sample()[1]
            while fds > idle_fds + fd_slack and time.monotonic() < deadline:
                time.sleep(0.5)
                fds = self.proc_sample()[1]
            log(f"soak: {fds} descriptors after traffic stopped ({idle_fds} before it started)")
            if fds > idle_fds + fd_slack:
                problems.append(f"descriptors after traffic: {fds}, idle before: {idle_fds} (bound +{fd_slack})")
            self.daemon.send_signal(signal.SIGTERM)
            try:
                code = self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                code = "none (killed after 30 s)"
            if code != 0:
                problems.append(f"fulcrumd exit status after SIGTERM: {code}")
        gb = c["bytes"] / 1e9
        log(f"soak: {c['tcp_ok']} TCP ops ({gb:.2f} GB checked), {c['tcp_err']} errors "
            f"({c['tcp_err'] - len([u for u in unexcused if u[0] == 'tcp'])} during member deaths); "
            f"{c['udp_ok']} datagrams echoed, {c['udp_lost']} lost; {c['reload_ok']} reloads, {c['kills']} member kills")
        if problems:
            for p in problems:
                log("soak: FAIL: " + p)
            log("--- fulcrumd log (last 40 lines) ---\n" + "\n".join(self.read_log().splitlines()[-40:]))
            return 1
        log("soak: PASS")
        return 0

    def cleanup(self) -> None:
        for p in list(self.members.values()) + ([self.daemon] if self.daemon else []):
            if p.poll() is None:
                p.kill()
                p.wait()


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "member":
        global CORRUPT
        CORRUPT = sys.argv[4:] == ["corrupt"]
        run_member(sys.argv[2], int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description="fulcrumd soak test")
    ap.add_argument("--binary", required=True)
    ap.add_argument("minutes", nargs="?", type=float, default=2.0)
    args = ap.parse_args()
    rss_slack = float(os.environ.get("SOAK_RSS_SLACK_MB", "24"))
    with tempfile.TemporaryDirectory(prefix="fulcrum-soak-") as workdir:
        soak = Soak(args.binary, args.minutes, workdir, rss_slack)
        try:
            return soak.run()
        finally:
            soak.cleanup()


if __name__ == "__main__":
    sys.exit(main())
