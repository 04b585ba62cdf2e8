#!/usr/bin/env python3
"""Fulcrum side by side with HAProxy and nginx (stream), in one run, as ratios.

Started by bench/run, which installs the tools, builds fulcrumd and passes --fulcrum-bin and
--workdir. Standard library only. See bench/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time

from benchlib import common
from benchlib.common import (BACKEND_PORTS, BENCH_DIR, CONTENDERS, FORMATS, HOLD_CONTROL_PORT,
    CPU_TASKS, CPU_UNITS, FULCRUM_B, LABELS, LIMITS, MEM_SECONDS, METRICS, MeasureError, OVERHEAD, PEERS, PORTS,
    RESTART_SECONDS, StartError, TASKS, TASK_LABELS, log)
from benchlib.procs import Registry, check_echo, check_http, listening
from benchlib.contenders import (Contender, Direct, Fulcrum, HAProxy, LimitCopy, LimitSplice, NginxStream,
    haproxy_maxconn, note_death, start_backends)
from benchlib.measure import Bench
from benchlib.report import (ab_rounds, b_over_a_cell, cost_ratio, cpu_busy, cpu_model, fmt_cost, fmt_secs,
    git_state, limit_ratio_cell, ratio_cell, render_ab_rounds, render_cpu_table, render_table, render_udp_loss,
    tool_version, udp_loss)


# --------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description="Fulcrum vs HAProxy vs nginx on loopback (see bench/README.md)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; contenders alternate within each (default 3)")
    ap.add_argument("--duration", type=int, default=4, help="seconds per measurement (default 4)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round of 2 s measurements")
    ap.add_argument("--mem-conns", type=int, default=3000, help="idle connections for the memory rows (default 3000)")
    ap.add_argument("--contenders", default=None,
                    help=f"comma-separated subset to run ({','.join(CONTENDERS)}); default: all, "
                         f"{FULCRUM_B} only when --fulcrum-b-bin is given")
    ap.add_argument("--tasks", default=",".join(TASKS),
                    help=f"comma-separated subset of measurements ({','.join(TASKS)})")
    ap.add_argument("--fulcrum-bin", default=os.environ.get("FULCRUM_BIN", ""))
    ap.add_argument("--fulcrum-build-error", default=None)
    ap.add_argument("--fulcrum-b-bin", default=os.environ.get("FULCRUM_B_BIN", ""),
                    help="a second fulcrumd to compare with the first (A/B): contender fulcrum-b ('Fulcrum B')")
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a new temp dir, removed at exit)")
    ap.add_argument("--json", default=os.path.join(BENCH_DIR, "last-run.json"))
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be at least 1")
    # B with its own settings and no binary of its own: the same build, two configs.
    if not args.fulcrum_b_bin and os.environ.get("FULCRUM_B_CONFIG") and args.fulcrum_bin:
        args.fulcrum_b_bin = args.fulcrum_bin
    if args.fulcrum_b_bin:
        args.fulcrum_b_bin = os.path.abspath(args.fulcrum_b_bin)
    if args.contenders is None:
        args.contenders = ",".join(c for c in CONTENDERS if c != FULCRUM_B or args.fulcrum_b_bin)
    selected = [c for c in CONTENDERS if c in args.contenders.split(",")]
    unknown = set(args.contenders.split(",")) - set(CONTENDERS)
    if unknown:
        ap.error(f"unknown contenders {sorted(unknown)}; choose from {','.join(CONTENDERS)}")
    if FULCRUM_B in selected and not args.fulcrum_b_bin:
        ap.error(f"{FULCRUM_B} needs a second fulcrumd: --fulcrum-b-bin PATH or FULCRUM_B_BIN=PATH")
    tasks = [t for t in TASKS if t in args.tasks.split(",")]
    unknown = set(args.tasks.split(",")) - set(TASKS)
    if unknown:
        ap.error(f"unknown tasks {sorted(unknown)}; choose from {','.join(TASKS)}")

    own_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="fulcrum-bench.")
    common.REG = Registry(workdir)

    cleaning = False

    def on_signal(signum, frame):
        # The first SIGINT/SIGTERM/SIGHUP interrupts the run; later ones (bench/run's trap sends
        # TERM after the terminal's INT) must not interrupt the clean-up.
        if not cleaning:
            raise KeyboardInterrupt(signal.Signals(signum).name)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (max(hard, 65536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            break
        except (ValueError, OSError):
            continue
    common.NOFILE = min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    if common.NOFILE < 2 * args.mem_conns + 1000:
        log(f"warning: open-file limit {common.NOFILE} is low for {args.mem_conns} idle connections")

    workers = int(os.environ.get("FULCRUM_WORKERS", "1"))
    fulcrum_udp = os.environ.get("FULCRUM_UDP", "1") != "0"
    all_c: dict[str, Contender] = {
        "direct": Direct(workdir), "haproxy": HAProxy(workdir), "nginx": NginxStream(workdir),
        "fulcrum": Fulcrum(workdir, args.fulcrum_bin, workers, fulcrum_udp, args.fulcrum_build_error,
                           extra=os.environ.get("FULCRUM_CONFIG", "")),
    }
    if args.fulcrum_b_bin:
        # Same config shape, its own ports (25xxx) and directory; never built, only given.
        all_c[FULCRUM_B] = Fulcrum(workdir, args.fulcrum_b_bin, workers, fulcrum_udp, None, name=FULCRUM_B,
                                    extra=os.environ.get("FULCRUM_B_CONFIG", ""))
    # The limit contenders are compiled (bench/limit/*.c, into the run's directory) only when selected.
    for name, cls in (("limit-splice", LimitSplice), ("limit-copy", LimitCopy)):
        if name in selected:
            all_c[name] = cls(workdir)
            if all_c[name].build_error:
                log(f"==> {all_c[name].build_error}: {name}'s cells will show 'error'")
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
        if FULCRUM_B in contenders:
            extra_a, extra_b = all_c["fulcrum"].extra, all_c[FULCRUM_B].extra
            config = ("same config" if extra_a == extra_b else
                      f"config lines A: {'; '.join(extra_a) or 'none'}, B: {'; '.join(extra_b) or 'none'}")
            log(f"    Fulcrum B (A/B): binary {args.fulcrum_b_bin}; {config}, ports {PORTS[FULCRUM_B]['iperf']} etc.")
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
                        if "_cpu_us_per_unit" in res:
                            shown += (f"; cpu {fmt_cost(res['_cpu_us_per_unit'])} µs, "
                                      f"{fmt_cost(res['_ctxsw_per_unit'])} ctx sw per {res['_unit']}")
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
        fulcrum_b_stats = []
        for c in contenders.values():
            try:
                c.stop()
            except Exception as ex:  # noqa: BLE001 - never stop cleaning up
                log(f"    stopping {c.name}: {ex}")
            if isinstance(c, Fulcrum) and c.logpath:
                if c.name == FULCRUM_B:
                    fulcrum_b_stats = c.exit_stats()
                else:
                    fulcrum_stats = c.exit_stats()
        common.REG.stop_all()
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
    table = render_table(medians, errors, args.mem_conns, selected)

    # CPU and context switches per unit of work: medians over the rounds of the per-round ratios.
    cpu_per_unit: dict = {c: {} for c in CONTENDERS if c != "direct"}
    ctxsw_per_unit: dict = {c: {} for c in CONTENDERS if c != "direct"}
    for cname in cpu_per_unit:
        for task in CPU_TASKS:
            per_round = [d for d in raw_extra[cname][task] if "_cpu_us_per_unit" in d]
            if per_round:
                cpu_per_unit[cname][task] = statistics.median(d["_cpu_us_per_unit"] for d in per_round)
                ctxsw_per_unit[cname][task] = statistics.median(d["_ctxsw_per_unit"] for d in per_round)
            else:
                failed_task = (cname in contenders and task in tasks and bench.applies(cname, task) and
                               (contenders[cname].error or raw_extra[cname][task] or
                                any(e["task"] in (task, "start", "down") for e in errors[cname])))
                cpu_per_unit[cname][task] = ctxsw_per_unit[cname][task] = "error" if failed_task else "—"
    cpu_ratios = {task: {what: {p: cost_ratio(vals["fulcrum"].get(task), vals[p].get(task))[0] for p in PEERS}
                         for what, vals in (("cpu", cpu_per_unit), ("ctxsw", ctxsw_per_unit))}
                  for task in CPU_TASKS}
    cpu_tasks = [t for t in CPU_TASKS if t in tasks]
    cpu_table = render_cpu_table(cpu_per_unit, ctxsw_per_unit, tasks, selected) if cpu_tasks else ""
    # A/B: Fulcrum B ÷ Fulcrum (A), on the medians and round by round.
    ab = FULCRUM_B in contenders
    b_over_a = {key: b_over_a_cell(medians["fulcrum"].get(key), medians[FULCRUM_B].get(key))[0]
                for key, *_ in METRICS} if ab else None
    cpu_b_over_a = {task: {what: b_over_a_cell(vals["fulcrum"].get(task), vals[FULCRUM_B].get(task))[0]
                           for what, vals in (("cpu", cpu_per_unit), ("ctxsw", ctxsw_per_unit))}
                    for task in CPU_TASKS} if ab else None
    ab_rows = ab_rounds(raw_extra, tasks) if ab else []
    ab_table = render_ab_rounds(ab_rows, args.rounds, args.mem_conns) if ab else ""
    loss = udp_loss(raw_extra, [c for c in ("fulcrum", FULCRUM_B) if c in contenders]) if "udp_rate" in tasks else {}
    loss_table = render_udp_loss(loss)
    total = time.monotonic() - started
    log("")
    log(f"Fulcrum vs HAProxy vs nginx on loopback — median of {args.rounds} round(s), {args.duration} s per "
        f"measurement, total {fmt_secs(total)}")
    log(table)
    log("↑ higher is better, ↓ lower is better. Ratio = Fulcrum ÷ best of HAProxy and nginx for that row; "
        "✓ = Fulcrum meets it (≥ 1.00 on ↑ rows, ≤ 1.00 on ↓ rows).")
    if any(c in selected for c in LIMITS):
        log("Fulcrum ÷ limit = Fulcrum ÷ the better of the limit contenders (bench/limit/) that ran the row. "
            "limit-splice is TCP only; neither limit runs the memory rows.")
    if ab:
        log("B ÷ A = Fulcrum B ÷ Fulcrum (A), on the medians: on ↑ rows above 1.00 means B is faster, on ↓ rows "
            "below 1.00 means B is lower (better). Fulcrum B is neither a peer nor a limit.")
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
    if cpu_table:
        log("")
        log("CPU and context switches per unit of work — each proxy's process group, over the client tool's run; "
            "median of the rounds")
        log(cpu_table)
        log("Lower is better. Ratio = Fulcrum ÷ that peer; ✓ = Fulcrum uses no more (≤ 1.00). "
            "MB = 1e6 bytes received; conn/req = wrk's completed requests; round trip = sockperf's "
            "[Total Run] ReceivedMessages; 1k dgrams = 1000 datagrams delivered to the iperf3 receiver."
            + (" B ÷ A = Fulcrum B ÷ Fulcrum: below 1.00 B spends less." if ab else ""))
    if ab_table:
        log("")
        log(f"A/B by round — A = Fulcrum ({args.fulcrum_bin}), B = Fulcrum B ({args.fulcrum_b_bin}); "
            "each round's A and B figures (B ÷ A)")
        log(ab_table)
        log("✓ = B better that round (higher on ↑ rows, lower on ↓ rows); 'B better' = in how many of the rounds "
            "both ran; 'median B÷A' = median of the per-round ratios (B ÷ A in the tables above is the ratio of "
            "the medians). Use --rounds 5 or more for a verdict.")
    if loss_table:
        log("")
        log("UDP 64 B: where datagrams were lost — per round, counters read right before and right after the "
            "iperf3 run; median of the rounds")
        log(loss_table)
        log("sent = the iperf3 client's packets; received / forwarded = fulcrumd's status socket: listener iperf_udp's "
            "datagrams in, its member's datagrams sent to it; delivered = the iperf3 receiver's packets − lost. "
            "Shares are of the sent datagrams (median of the per-round shares): before the proxy = sent − received, "
            "in the proxy = received − forwarded, after the proxy = forwarded − delivered. Kernel drops "
            "(/proc/net/udp, /proc/net/snmp RcvbufErrors): on the proxy's listening socket, and on every other UDP "
            "socket, i.e. the iperf3 receiver's.")
    if bench.warnings:
        log("Warnings:")
        for w in bench.warnings:
            log(f"  {w}")
    for who, stats in (("fulcrumd", fulcrum_stats), ("Fulcrum B", fulcrum_b_stats)):
        if stats:
            log(f"{who}'s counters at its last exit:")
            for l in stats:
                log(f"  {l}")

    ratios = {}
    limit_ratios = {}
    for key, label, unit, better, task, fmt in METRICS:
        r, cell = ratio_cell(medians["fulcrum"].get(key), [medians[p].get(key) for p in PEERS], better)
        ratios[key] = {"ratio": r, "cell": cell, "better": better}
        r, cell = limit_ratio_cell(medians["fulcrum"].get(key),
                                   [medians[c].get(key) for c in LIMITS if c in selected], better)
        limit_ratios[key] = {"ratio": r, "cell": cell, "better": better}
    result = {
        "date": t0.isoformat(timespec="seconds"),
        "total_seconds": round(total, 1),
        "host": {"kernel": platform.release(), "cpu": cpu_model(), "cpus": os.cpu_count(),
                 "loadavg_before": loadavg_before, "cpu_busy_before": round(busy_before, 3), "loadavg_after": open("/proc/loadavg").read().split()[:3]},
        "versions": {
            "haproxy": all_c["haproxy"].version(), "nginx": all_c["nginx"].version(),
            "fulcrum": all_c["fulcrum"].version(), "fulcrum_git": git_state(),
            **({"fulcrum_b": all_c[FULCRUM_B].version()} if FULCRUM_B in all_c else {}),
            "iperf3": tool_version(["iperf3", "--version"]), "wrk": tool_version(["wrk", "--version"]),
            "sockperf": tool_version(["sockperf", "--version"]).replace("sockperf: ", ""),
            "cc": tool_version(["cc", "--version"]),
            **{c: all_c[c].version() for c in LIMITS if c in all_c},
        },
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "mem_conns": args.mem_conns,
                     "fulcrum_workers": workers, "fulcrum_bin": args.fulcrum_bin,
                     "fulcrum_b_bin": args.fulcrum_b_bin or None,
                     "fulcrum_config": all_c["fulcrum"].extra,
                     "fulcrum_b_config": all_c[FULCRUM_B].extra if FULCRUM_B in all_c else None,
                     "fulcrum_udp": fulcrum_udp, "contenders": selected, "tasks": tasks,
                     "nofile": common.NOFILE, "haproxy_maxconn": haproxy_maxconn(), "nginx_worker_connections": 20000,
                     "ports": PORTS},
        "metrics": [{"key": k, "label": l, "unit": u, "better": b} for k, l, u, b, _, _ in METRICS],
        "raw": raw, "raw_detail": raw_extra, "medians": medians, "ratios": ratios,
        "limit_ratios": limit_ratios,
        "cpu_units": {t: CPU_UNITS[t] for t in CPU_TASKS}, "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "cpu_per_unit": cpu_per_unit, "ctxsw_per_unit": ctxsw_per_unit, "cpu_ratios": cpu_ratios,
        "errors": errors, "warnings": bench.warnings,
        "events": {c.name: c.events for c in contenders.values() if c.events},
        "udp_loss": loss, "udp_loss_table": loss_table,
        "fulcrum_exit_stats": fulcrum_stats,
        **({"b_over_a": b_over_a, "cpu_b_over_a": cpu_b_over_a,
            "ab_rounds": {r["key"]: {"better": r["better"], "rounds": r["rounds"],
                                     "b_better_rounds": r["b_better_rounds"],
                                     "median_b_over_a": r["median_b_over_a"],
                                     "pairs": r["pairs"]} for r in ab_rows if r["pairs"]},
            "fulcrum_b_exit_stats": fulcrum_b_stats, "ab_table": ab_table} if ab else {}),
        "interrupted": interrupted,
        "table": table,
        "cpu_table": cpu_table,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log(f"JSON: {args.json}")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

