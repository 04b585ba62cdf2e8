"""The table, ratios and the facts recorded with a run."""
from __future__ import annotations

import os
import platform
import subprocess
import time

from .common import (ANSI, BENCH_DIR, CONTENDERS, CPU_TASKS, CPU_UNITS, LABELS, LIMITS, METRICS, PEERS,
    TASK_LABELS)

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


def limit_ratio_cell(fval, limit_vals, better):
    """Fulcrum ÷ the better of the limit contenders that ran the row (no ✓: a ceiling)."""
    limit_vals = [v for v in limit_vals if isinstance(v, (int, float))]
    if not isinstance(fval, (int, float)) or not limit_vals:
        return None, "—"
    best = max(limit_vals) if better == "higher" else min(limit_vals)
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
    rows = []
    for key, label, unit, better, task, fmt in METRICS:
        label = label.replace("N idle", f"{n_conns} idle")
        arrow = "↑" if better == "higher" else "↓"
        cells = [_cell(medians[cname].get(key), fmt) for cname in columns]
        _, rc = ratio_cell(medians["fulcrum"].get(key), [medians[p].get(key) for p in PEERS], better)
        row = [f"{arrow} {label}", unit] + cells + [rc]
        if limits:
            row.append(limit_ratio_cell(medians["fulcrum"].get(key), [medians[c].get(key) for c in limits], better)[1])
        rows.append(row)
    return _grid(head, rows)


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
    head = ["row", "per unit of work"] + [LABELS[c] for c in columns] + ["Fulcrum ÷ HAProxy", "Fulcrum ÷ nginx"]
    rows = []
    for task in CPU_TASKS:
        if task not in tasks:
            continue
        unit = CPU_UNITS[task]
        for what, vals, label in (("cpu", cpu, f"CPU µs / {unit}"), ("ctxsw", ctxsw, f"ctx switches / {unit}")):
            cells = [_cell(vals[c].get(task), fmt_cost) for c in columns]
            f = vals["fulcrum"].get(task)
            ratios = [cost_ratio(f, vals[p].get(task))[1] for p in PEERS]
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


