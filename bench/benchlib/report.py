"""The table, ratios and the facts recorded with a run."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time

from .common import (ANSI, BENCH_DIR, CONTENDERS, CPU_TASKS, CPU_UNITS, FULCRUM_B, LABELS, LIMITS, METRICS,
    PEERS, TASK_LABELS)

# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def best_value(vals, better):
    """The best of the numeric values (highest or lowest, per `better`), or None if there are none."""
    vals = [v for v in vals if isinstance(v, (int, float))]
    if not vals:
        return None
    return max(vals) if better == "higher" else min(vals)


def ratio_cell(fval, peer_vals, better):
    best = best_value(peer_vals, better)
    if not isinstance(fval, (int, float)) or best is None:
        return None, "—"
    if best == 0:
        if fval == 0:
            return 1.0, "1.00 ✓"
        return None, "n/a (best peer 0)"
    r = fval / best
    ok = r >= 1.0 if better == "higher" else r <= 1.0
    return r, f"{r:.2f}" + (" ✓" if ok else "")


def limit_ratio_cell(fval, limit_vals, better):
    """Fulcrum ÷ the better of the limit contenders that ran the row (no ✓: a ceiling)."""
    best = best_value(limit_vals, better)
    if not isinstance(fval, (int, float)) or best is None:
        return None, "—"
    if best == 0:
        return None, "n/a (limit 0)"
    return fval / best, f"{fval / best:.2f}"


def _grid(head: list[str], rows: list[list[str]], left: int = 2) -> str:
    """Columns: the first `left` left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(r):
        return "  ".join(r[i].ljust(widths[i]) if i < left else r[i].rjust(widths[i]) for i in range(len(r)))
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _cell(v, fmt) -> str:
    if isinstance(v, (int, float)):
        return fmt.format(v) if isinstance(fmt, str) else fmt(v)
    return v or "—"


def render_table(medians: dict, errors: dict, n_conns: int, columns: list[str] | None = None) -> str:
    """The main table: one column per contender in `columns` (default: all), Fulcrum ÷ best peer,
    and Fulcrum ÷ limit when a limit contender is among the columns."""
    columns = columns or CONTENDERS
    limits = [c for c in LIMITS if c in columns]
    head = ["metric", "unit"] + [LABELS[c] for c in columns] + ["Fulcrum ÷ best peer"]
    if limits:
        head.append("Fulcrum ÷ limit")
    ab = FULCRUM_B in columns
    if ab:
        head.append("B ÷ A")
    rows = []
    for key, label, unit, better, task, fmt in METRICS:
        label = label.replace("N idle", f"{n_conns} idle")
        arrow = "↑" if better == "higher" else "↓"
        cells = [_cell(medians[cname].get(key), fmt) for cname in columns]
        _, rc = ratio_cell(medians["fulcrum"].get(key), [medians[p].get(key) for p in PEERS], better)
        row = [f"{arrow} {label}", unit] + cells + [rc]
        if limits:
            row.append(limit_ratio_cell(medians["fulcrum"].get(key), [medians[c].get(key) for c in limits], better)[1])
        if ab:
            row.append(b_over_a_cell(medians["fulcrum"].get(key), medians[FULCRUM_B].get(key))[1])
        rows.append(row)
    return _grid(head, rows)


def b_over_a_cell(a, b):
    """Fulcrum B ÷ Fulcrum (A) for one figure: (ratio, cell). No ✓: which way is better depends on
    the row (↑ rates: above 1.00 B is faster; ↓ latency, memory, CPU: below 1.00 B is lower)."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None, "—"
    if a == 0:
        return (1.0, "1.00") if b == 0 else (None, "n/a (A 0)")
    return b / a, f"{b / a:.2f}"


def b_better(a: float, b: float, better: str) -> bool:
    return b > a if better == "higher" else b < a


def ab_rounds(raw_detail: dict, tasks: list[str]) -> list[dict]:
    """Per row, the rounds in which both Fulcrum (A) and Fulcrum B have a figure: the A/B pairs
    (the two ran in the same round, one right after the other or close to it). The main table's
    rows, then CPU µs and context switches per unit for the traffic rows (lower is better)."""
    def by_round(cname, task, key):
        return {d["round"]: d[key] for d in raw_detail[cname][task] if isinstance(d.get(key), (int, float))}
    rows = []
    specs = [(key, label, unit, better, task, fmt) for key, label, unit, better, task, fmt in METRICS]
    specs += [(f"_{what}_per_unit:{task}", f"{TASK_LABELS[task]}: {name}", f"{unit} / {CPU_UNITS[task]}", "lower",
               task, fmt_cost)
              for task in CPU_TASKS for what, name, unit in (("cpu_us", "CPU", "µs"), ("ctxsw", "ctx switches", "n"))]
    for key, label, unit, better, task, fmt in specs:
        if task not in tasks:
            continue
        field = key.split(":")[0]
        a, b = by_round("fulcrum", task, field), by_round(FULCRUM_B, task, field)
        pairs = []
        for r in sorted(set(a) & set(b)):
            ratio = b_over_a_cell(a[r], b[r])[0]
            pairs.append({"round": r, "a": a[r], "b": b[r], "b_over_a": ratio,
                          "b_better": b_better(a[r], b[r], better)})
        ratios = [p["b_over_a"] for p in pairs if p["b_over_a"] is not None]
        rows.append({"key": key, "label": label, "unit": unit, "better": better, "fmt": fmt, "pairs": pairs,
                     "b_better_rounds": sum(p["b_better"] for p in pairs), "rounds": len(pairs),
                     "median_b_over_a": statistics.median(ratios) if ratios else None})
    return rows


def render_ab_rounds(rows: list[dict], n_rounds: int, n_conns: int) -> str:
    """The A/B table: per row and round, A → B (B ÷ A), ✓ when B was better in that round, and in
    how many rounds B was better."""
    head = (["metric", "unit"] + [f"round {r + 1}: A → B (B÷A)" for r in range(n_rounds)] +
            ["B better", "median B÷A"])
    out = []
    for row in rows:
        if not row["pairs"]:
            continue
        by_r = {p["round"]: p for p in row["pairs"]}
        cells = []
        for r in range(1, n_rounds + 1):
            p = by_r.get(r)
            if p is None:
                cells.append("—")
                continue
            ratio = "n/a" if p["b_over_a"] is None else f"{p['b_over_a']:.2f}"
            cells.append(f"{_cell(p['a'], row['fmt'])} → {_cell(p['b'], row['fmt'])} ({ratio}{' ✓' if p['b_better'] else '  '})")
        arrow = "↑" if row["better"] == "higher" else "↓"
        label = row["label"].replace("N idle", f"{n_conns} idle")
        med = "—" if row["median_b_over_a"] is None else f"{row['median_b_over_a']:.2f}"
        out.append([f"{arrow} {label}", row["unit"]] + cells + [f"{row['b_better_rounds']} of {row['rounds']}", med])
    return _grid(head, out) if out else ""


def fmt_cost(v: float) -> str:
    """Three significant figures or so, without exponents."""
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cost_ratio(fval, other):
    """Fulcrum ÷ a peer for a cost (lower is better): (ratio, cell with ✓ when ≤ 1.00)."""
    if not isinstance(fval, (int, float)) or not isinstance(other, (int, float)):
        return None, "—"
    if other == 0:
        return None, "n/a (0)"
    r = fval / other
    return r, f"{r:.2f}" + (" ✓" if r <= 1.0 else "")


def render_cpu_table(cpu: dict, ctxsw: dict, tasks: list[str], columns: list[str]) -> str:
    """The second table: per traffic row, CPU µs and context switches per unit of work for each
    proxy contender in `columns`, and Fulcrum ÷ HAProxy, Fulcrum ÷ nginx."""
    columns = [c for c in columns if c != "direct"]
    ab = FULCRUM_B in columns
    head = (["row", "per unit of work"] + [LABELS[c] for c in columns] + ["Fulcrum ÷ HAProxy", "Fulcrum ÷ nginx"] +
            (["B ÷ A"] if ab else []))
    rows = []
    for task in CPU_TASKS:
        if task not in tasks:
            continue
        unit = CPU_UNITS[task]
        for what, vals, label in (("cpu", cpu, f"CPU µs / {unit}"), ("ctxsw", ctxsw, f"ctx switches / {unit}")):
            cells = [_cell(vals[c].get(task), fmt_cost) for c in columns]
            f = vals["fulcrum"].get(task)
            ratios = [cost_ratio(f, vals[p].get(task))[1] for p in PEERS]
            if ab:
                ratios.append(b_over_a_cell(f, vals[FULCRUM_B].get(task))[1])
            rows.append([TASK_LABELS[task] if what == "cpu" else "", label] + cells + ratios)
    return _grid(head, rows)


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


def fmt_secs(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"




def udp_loss(raw_detail: dict, cnames: list[str]) -> dict:
    """UDP 64 B rate: where the datagrams were lost, per Fulcrum contender in `cnames`, from the
    rounds that have both ends' figures. Medians over the rounds of each count, and of each
    round's shares of the client's sent datagrams lost before the proxy (sent − received by the
    proxy), in the proxy (received − forwarded to the member) and after it (forwarded − delivered
    to the iperf3 receiver). A share below zero (iperf3's extra connect datagram) counts as 0."""
    out = {}
    for cname in cnames:
        rounds = [d for d in raw_detail.get(cname, {}).get("udp_rate", [])
                  if all(isinstance(d.get(k), (int, float)) for k in
                         ("_udp_sent_packets", "_udp_delivered_packets", "_proxy_received", "_proxy_forwarded"))
                  and d["_udp_sent_packets"] > 0]
        if not rounds:
            continue

        def med(key):
            vals = [d[key] for d in rounds if isinstance(d.get(key), (int, float))]
            return statistics.median(vals) if vals else None

        def share(d, a, b):
            return max(d[a] - d[b], 0) / d["_udp_sent_packets"]
        out[cname] = {
            "rounds": len(rounds),
            "sent": med("_udp_sent_packets"), "received_by_proxy": med("_proxy_received"),
            "forwarded_by_proxy": med("_proxy_forwarded"), "delivered": med("_udp_delivered_packets"),
            "dropped_by_proxy": med("_proxy_dropped"),
            "lost_before_proxy": statistics.median(share(d, "_udp_sent_packets", "_proxy_received") for d in rounds),
            "lost_in_proxy": statistics.median(share(d, "_proxy_received", "_proxy_forwarded") for d in rounds),
            "lost_after_proxy": statistics.median(share(d, "_proxy_forwarded", "_udp_delivered_packets") for d in rounds),
            "kernel_proxy_socket_drops": med("_kernel_proxy_socket_drops"),
            "kernel_other_socket_drops": med("_kernel_other_socket_drops"),
            "per_round": [{k: d.get(k) for k in ("round", "_udp_sent_packets", "_proxy_received", "_proxy_forwarded",
                                                 "_udp_delivered_packets", "_proxy_dropped",
                                                 "_kernel_proxy_socket_drops", "_kernel_other_socket_drops")}
                          for d in rounds],
        }
    return out


def render_udp_loss(loss: dict) -> str:
    def n(v):
        return "—" if v is None else f"{v:,.0f}"
    head = ["contender", "rounds", "sent by client", "received by proxy", "forwarded by proxy",
            "delivered to receiver", "lost before proxy", "lost in proxy", "lost after proxy",
            "kernel drops: proxy socket", "kernel drops: other sockets"]
    rows = [[LABELS[c], str(v["rounds"]), n(v["sent"]), n(v["received_by_proxy"]), n(v["forwarded_by_proxy"]),
             n(v["delivered"]), f"{v['lost_before_proxy']:.1%}", f"{v['lost_in_proxy']:.1%}",
             f"{v['lost_after_proxy']:.1%}", n(v["kernel_proxy_socket_drops"]), n(v["kernel_other_socket_drops"])]
            for c, v in loss.items()]
    return _grid(head, rows, left=1) if rows else ""
