"""The table, ratios and the facts recorded with a run."""
from __future__ import annotations

import os
import platform
import subprocess
import time

from .common import ANSI, BENCH_DIR, CONTENDERS, METRICS, PEERS

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


def fmt_secs(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


