"""One measurement of one contender: the tools run against it and what their output says."""
from __future__ import annotations

import json
import re
import socket
import time

from .common import CPU_TASKS, CPU_UNITS, HOST, LABELS, MeasureError, TASK_LABELS
from .procs import CpuWindow, hold_count, pipe_usage, rss_kib, run_tool, udp_snmp, udp_socket_drops
from .contenders import Contender, Fulcrum, restart_iperf_server

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
        """One measurement. For a proxy contender and a traffic task it also reads the CPU time
        and context switches of the contender's process group over exactly the client tool's run,
        and divides them by the work done in that run (the `_cpu_*` / `_ctxsw*` keys)."""
        c = self.c[cname]
        window = CpuWindow(c.proc.pid) if (task in CPU_TASKS and c.proc is not None) else None
        res = self.measure(cname, task, window)
        if window is not None:
            w = window.result()
            units = self.units(task, res)
            res.update({"_cpu_ticks": w["ticks"], "_cpu_us": w["cpu_us"], "_ctxsw": w["ctxsw"],
                        "_cpu_processes": w["processes"], "_cpu_window_s": w["window_s"],
                        "_units": units, "_unit": CPU_UNITS[task]})
            if w["gone"]:   # their CPU would be missing: no per-unit figures for this round
                self.warnings.append(f"{LABELS[cname]} {TASK_LABELS[task]}: processes {w['gone']} exited during "
                                     "the measured window; no CPU figures for it")
            elif units and units > 0:
                res["_cpu_us_per_unit"] = w["cpu_us"] / units
                res["_ctxsw_per_unit"] = w["ctxsw"] / units
        return res

    @staticmethod
    def units(task: str, res: dict) -> float | None:
        """The work done in the measured window, in the task's CPU unit (common.CPU_UNITS)."""
        if task in ("tcp1", "tcp8"):
            return res["_bytes"] / 1e6                     # MB moved (receiver's bytes)
        if task in ("conn", "rr"):
            return res["_requests"]                        # wrk's completed requests
        if task == "udp_rate":
            return res["_udp_delivered_packets"] / 1e3     # thousands of datagrams delivered
        if task in ("tcp_pp", "udp_pp"):
            return res["_round_trips"]                     # sockperf's completed round trips
        return None

    def measure(self, cname: str, task: str, window: CpuWindow | None) -> dict:
        c = self.c[cname]
        ports = c.ports
        T = self.T
        if task in ("tcp1", "tcp8"):
            argv = ["iperf3", "-c", HOST, "-p", str(ports["iperf"]), "-t", str(T), "-J"]
            if task == "tcp8":
                argv += ["-P", "8"]
            d = self.iperf(argv, T, window)
            bps = d["end"]["sum_received"]["bits_per_second"]
            return {f"{task}_gbps": bps / 1e9, "_bytes": d["end"]["sum_received"]["bytes"]}
        if task == "udp_rate":
            argv = ["iperf3", "-u", "-b", "0", "-l", "64", "-c", HOST, "-p", str(ports["iperf"]),
                    "-t", str(T), "-J"]
            before = self.udp_counters(c)
            d = self.iperf(argv, T, window)
            after = self.udp_counters(c)
            r = d["end"]["sum_received"]
            delivered = r["packets"] - r["lost_packets"]
            if r["seconds"] <= 0:
                raise MeasureError("iperf3 UDP reported a zero duration")
            sent = d["end"].get("sum_sent", {}).get("packets", 0)
            res = {"udp_kpps": delivered / r["seconds"] / 1e3,
                   "_udp_sent_packets": sent, "_udp_delivered_packets": delivered,
                   "_udp_lost_percent": r.get("lost_percent")}
            res.update(self.udp_counter_deltas(cname, before, after))
            return res
        if task in ("conn", "rr"):
            argv = ["wrk", "-t1", "-c50", f"-d{T}s"]
            if task == "conn":
                argv += ["-H", "Connection: close"]
            argv.append(f"http://{HOST}:{ports['http']}/")
            out = run_tool("wrk", argv, timeout=T + 20, window=window)
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
            out = run_tool("sockperf", argv, timeout=T + 20, window=window)
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
            # Round trips over the whole run (warm-up included, as in the CPU window); the
            # observations above are those of the "valid duration" only.
            total = re.search(r"\[Total Run\].*?ReceivedMessages=(\d+)", out)
            if not total:
                raise MeasureError(f"sockperf printed no [Total Run] ReceivedMessages: {out.strip()[-300:]}")
            res["_round_trips"] = int(total.group(1))
            return res
        if task == "mem":
            return self.memory(c)
        raise AssertionError(task)

    def udp_counters(self, c: Contender) -> dict:
        """Counters read right before and right after the UDP rate run, to tell where datagrams
        were lost: the kernel's drops on the proxy's UDP listening socket(s) (/proc/net/udp), the
        host's UDP receive-buffer drops (/proc/net/snmp RcvbufErrors: every socket, so the
        receiver's too) and, for fulcrumd, its own counters from the status socket (listener
        iperf_udp: datagrams in and dropped; its member: datagrams sent to it)."""
        out = {"socket_drops": udp_socket_drops(c.ports["iperf"]), "snmp": udp_snmp(), "proxy": None}
        if isinstance(c, Fulcrum):
            try:
                out["proxy"] = c.udp_counters("iperf_udp")
            except (OSError, ValueError) as e:
                out["proxy_error"] = str(e)
        return out

    def udp_counter_deltas(self, cname: str, before: dict, after: dict) -> dict:
        """The differences over the run (`_proxy_*` for fulcrumd, `_kernel_*` for every proxy)."""
        res = {}
        if isinstance(self.c[cname], Fulcrum):
            b, a = before["proxy"], after["proxy"]
            if b is None or a is None:
                why = before.get("proxy_error") or after.get("proxy_error")
                self.warnings.append(f"{LABELS[cname]} {TASK_LABELS['udp_rate']}: could not read its counters "
                                     f"from the status socket: {why}")
            else:
                res.update({"_proxy_received": a["datagrams_in"] - b["datagrams_in"],
                            "_proxy_forwarded": a["datagrams_to_member"] - b["datagrams_to_member"],
                            "_proxy_dropped": a["dropped"] - b["dropped"],
                            "_proxy_denied_truncated": (a["denied"] + a["truncated"]) - (b["denied"] + b["truncated"])})
        if cname != "direct" and before["socket_drops"] is not None and after["socket_drops"] is not None:
            res["_kernel_proxy_socket_drops"] = after["socket_drops"] - before["socket_drops"]
        sb, sa = before["snmp"], after["snmp"]
        if "RcvbufErrors" in sb and "RcvbufErrors" in sa:
            res["_kernel_udp_rcvbuf_errors"] = sa["RcvbufErrors"] - sb["RcvbufErrors"]
            if "_kernel_proxy_socket_drops" in res:
                # The only other UDP socket receiving in this window is the iperf3 receiver's.
                res["_kernel_other_socket_drops"] = res["_kernel_udp_rcvbuf_errors"] - res["_kernel_proxy_socket_drops"]
        return res

    def iperf(self, argv: list[str], T: int, window: CpuWindow | None = None) -> dict:
        try:
            out = run_tool("iperf3", argv, timeout=T + 20, check=False, window=window)  # -J prints JSON even on failure
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


