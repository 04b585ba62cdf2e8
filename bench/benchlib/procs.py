"""Processes the harness starts (own session, killed with it) and socket / /proc helpers."""
from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time

from . import common
from .common import (ANSI, F_GETPIPE_SZ, HOLD_CONTROL_PORT, HOST, MeasureError, PR_SET_PDEATHSIG,
    _libc)

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


def run_tool(name: str, argv: list[str], timeout: float, check: bool = True, window=None) -> str:
    """Runs a client tool to completion; returns stdout+stderr; raises MeasureError when it times
    out or (with check) exits non-zero. window (a CpuWindow or None) is opened immediately before
    the tool is started and closed as soon as it has exited: the measured window."""
    if window is not None:
        window.open()
    p = common.REG.spawn(name, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
        if window is not None:
            window.close()
    except subprocess.TimeoutExpired:
        common.REG.stop(p, signal.SIGKILL, grace=1)
        p.communicate()
        raise MeasureError(f"{name} did not finish within {timeout:.0f} s")
    finally:
        if p.poll() is not None:
            common.REG.live.pop(p.pid, None)
            common.REG._sync()
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


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_sample(pids: list[int]) -> dict[int, tuple[int, int]]:
    """Per pid: (utime + stime in clock ticks, from /proc/PID/stat fields 14 and 15, which cover
    all the process's threads; voluntary + nonvoluntary context switches summed over
    /proc/PID/task/*/status, i.e. over its threads). Pids that are gone are left out."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()   # fields[0] is field 3 (state)
            ticks = int(fields[11]) + int(fields[12])
            switches = 0
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/status") as f:
                        for line in f:
                            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                                switches += int(line.split()[1])
                except OSError:
                    pass   # a thread that just exited
            out[pid] = (ticks, switches)
        except (OSError, ValueError, IndexError):
            pass
    return out


class CpuWindow:
    """CPU time and context switches of one contender's process group over one measured window.
    The group's pids are listed when the window is made (before the tool starts), so opening and
    closing it only reads /proc/PID/stat and /proc/PID/task/*/status of those pids."""

    def __init__(self, pgid: int):
        self.pids = group_pids(pgid)
        self.before: dict = {}
        self.after: dict = {}
        self.seconds = 0.0

    def open(self) -> None:
        self.before = cpu_sample(self.pids)
        self._t0 = time.monotonic()

    def close(self) -> None:
        self.after = cpu_sample(self.pids)
        self.seconds = time.monotonic() - self._t0

    def result(self) -> dict:
        """ticks, µs, context switches over the window (processes present at both ends), the
        number of processes, and the pids that were gone at the end (a death)."""
        both = [p for p in self.before if p in self.after]
        ticks = sum(self.after[p][0] - self.before[p][0] for p in both)
        switches = sum(self.after[p][1] - self.before[p][1] for p in both)
        return {"ticks": ticks, "cpu_us": ticks * 1e6 / CLK_TCK, "ctxsw": switches,
                "processes": len(both), "window_s": round(self.seconds, 3),
                "gone": sorted(set(self.before) - set(self.after))}


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




def udp_socket_drops(port: int) -> int | None:
    """The kernel's `drops` counter summed over the UDP sockets bound to local PORT
    (/proc/net/udp and udp6, last column), or None if there is none."""
    total, found = 0, False
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        total += int(cols[-1])
                        found = True
        except (OSError, ValueError):
            continue
    return total if found else None


def udp_snmp() -> dict:
    """The host's (this network namespace's) UDP counters from /proc/net/snmp: InDatagrams,
    RcvbufErrors, InErrors, ... ({} if unreadable)."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        return dict(zip(rows[0][1:], map(int, rows[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}
