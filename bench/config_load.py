#!/usr/bin/env python3
"""Config loading at scale: writes a config directory with LISTENERS listeners (one pool each)
and MEMBERS members in all, then times `fulcrumd --check-config` on it (best of 3).

    python3 bench/config_load.py FULCRUMD [LISTENERS [MEMBERS]]   # defaults 10000 100000
"""
import os, subprocess, sys, tempfile, time

def main():
    binary = sys.argv[1]
    listeners = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    members = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    per_pool = max(1, members // listeners)
    with tempfile.TemporaryDirectory(prefix="fulcrum-load-") as d:
        os.mkdir(os.path.join(d, "conf.d"))
        with open(os.path.join(d, "fulcrum.toml"), "w") as f:
            f.write(f'workers = 2\n[status]\nsocket = "{d}/status.sock"\n')
        lines = []
        for i in range(listeners):
            a, b = divmod(i, 250)
            lines += [f"[listener.l{i}]", f'address = "127.{a // 250}.{a % 250}.{b + 1}"', "protocol_port = 80",
                      f'default_pool = "p{i}"', ""]
            for m in range(per_pool):
                n = i * per_pool + m
                lines += [f"[pool.p{i}.members.m{m}]", f'address = "10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"',
                          f"protocol_port = {1024 + m}", ""]
        with open(os.path.join(d, "conf.d", "50-many.toml"), "w") as f:
            f.write("\n".join(lines))
        size = os.path.getsize(os.path.join(d, "conf.d", "50-many.toml"))
        best = None
        for _ in range(3):
            start = time.monotonic()
            r = subprocess.run([binary, "--check-config", "--config-dir", d], capture_output=True, text=True)
            elapsed = time.monotonic() - start
            if r.returncode != 0:
                print(r.stdout, r.stderr[:2000])
                sys.exit(1)
            best = elapsed if best is None else min(best, elapsed)
        print(f"{listeners} listeners, {listeners * per_pool} members, {size / 1e6:.1f} MB: "
              f"--check-config {best:.2f} s (best of 3) — {r.stdout.strip()}")

main()
