"""Shared by the benchmark modules: ports, tasks and metrics, run-wide state, errors, logging."""
from __future__ import annotations

import ctypes
import os
import re

# bench/, one level above this package.
BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"

# Fixed ports, all in 20000-29999 (outside the ephemeral range 32768-60999).
BACKEND_PORTS = {"iperf": 21201, "http": 21080, "sockperf": 21111, "hold": 21200}
HOLD_CONTROL_PORT = 21209
PORTS = {
    "direct": dict(BACKEND_PORTS),
    "haproxy": {"iperf": 22201, "http": 22080, "sockperf": 22111, "hold": 22200},
    "nginx": {"iperf": 23201, "http": 23080, "sockperf": 23111, "hold": 23200},
    "fulcrum": {"iperf": 24201, "http": 24080, "sockperf": 24111, "hold": 24200},
    "fulcrum-b": {"iperf": 25201, "http": 25080, "sockperf": 25111, "hold": 25200},
    "limit-splice": {"iperf": 27201, "http": 27080, "sockperf": 27111, "hold": 27200},
    "limit-copy": {"iperf": 28201, "http": 28080, "sockperf": 28111, "hold": 28200},
}
CONTENDERS = ["direct", "haproxy", "nginx", "fulcrum", "fulcrum-b", "limit-splice", "limit-copy"]
LABELS = {"direct": "direct", "haproxy": "HAProxy", "nginx": "nginx", "fulcrum": "Fulcrum",
          "fulcrum-b": "Fulcrum B", "limit-splice": "limit-splice", "limit-copy": "limit-copy"}
# A second fulcrumd (--fulcrum-b-bin) for A/B runs: in the run only when a B binary is given. It is
# never a peer and never a limit; the tables get "B ÷ A" (Fulcrum B ÷ Fulcrum) columns for it.
FULCRUM_B = "fulcrum-b"
PEERS = ["haproxy", "nginx"]
# Reference proxies (bench/limit/): the ceiling of a user-space proxy on this machine. They are
# extra columns, never a "peer"; "Fulcrum ÷ limit" uses the better of those that ran the row.
LIMITS = ["limit-splice", "limit-copy"]

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
# CPU and context switches per unit of work (second table): the unit each traffic task's work is
# counted in, and the label printed for it.
CPU_TASKS = ["tcp1", "tcp8", "conn", "rr", "tcp_pp", "udp_rate", "udp_pp"]
CPU_UNITS = {"tcp1": "MB", "tcp8": "MB", "conn": "conn", "rr": "req", "tcp_pp": "round trip",
             "udp_rate": "1k dgrams", "udp_pp": "round trip"}
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


# Run-wide state, set by main(): the process registry and the descriptor limit in force.
REG = None  # procs.Registry

