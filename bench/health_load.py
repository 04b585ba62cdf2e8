#!/usr/bin/env python3
"""Does a busy health checker stall forwarding?

Runs one fulcrumd (workers = 1) twice over, alternating round by round:
  quiet: a TCP listener in front of a sockperf server, nothing else;
  busy:  the same, plus a pool of N members (default 500) checked every DELAY seconds
         (default 0.2 s, HTTP checks against a real nginx, so 2,500 checks/s).
and measures TCP ping-pong latency through the listener (sockperf, 64 B) and fulcrumd's CPU,
split into the worker thread(s) and the fulcrum-health thread. Prints one table and the ratios
busy / quiet. Started by bench/health-load, which installs the tools and builds fulcrumd.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
SOCKPERF_PORT = 25111
LISTEN_PORT = 25112
HEALTH_PORT = 25180
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def thread_ticks(pid: int) -> dict[str, int]:
    """CPU ticks (user+system) per thread name of a process."""
    result: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        key = "health" if name.startswith("fulcrum-health") else ("worker" if name.startswith("fulcrum-w") else "other")
        result[key] = result.get(key, 0) + int(fields[11]) + int(fields[12])
    return result


def write_config(directory: str, members: int, delay: float, monitor_type: str) -> None:
    lines = ["workers = 1", "shutdown_grace = 500", "",
             "[listener.pp]", f'address = "{HOST}"', f"protocol_port = {LISTEN_PORT}", 'default_pool = "pp"', "",
             "[pool.pp.members.sockperf]", f'address = "{HOST}"', f"protocol_port = {SOCKPERF_PORT}", ""]
    if members:
        lines += ["[listener.many]", f'address = "{HOST}"', f"protocol_port = {LISTEN_PORT + 1}", 'default_pool = "many"', "",
                  "[pool.many.healthmonitor]", f'type = "{monitor_type}"', f"delay = {delay}",
                  f"timeout = {round(delay / 2, 3)}", ""]
        for i in range(members):
            # 127.0.1.0/24, 127.0.2.0/24 ...: nginx listens on 0.0.0.0, so every address answers.
            address = f"127.0.{1 + i // 250}.{1 + i % 250}"
            lines += [f"[pool.many.members.m{i}]", f'address = "{address}"', f"protocol_port = {HEALTH_PORT}", ""]
    with open(os.path.join(directory, "fulcrum.toml"), "w") as f:
        f.write("\n".join(lines))


def sockperf(seconds: int) -> dict:
    out = subprocess.run(["sockperf", "ping-pong", "--tcp", "-i", HOST, "-p", str(LISTEN_PORT), "-m", "64",
                          "-t", str(seconds)], capture_output=True, text=True, timeout=seconds + 30).stdout
    def pct(label: str) -> float:
        m = re.search(rf"percentile {label} =\s*([\d.]+)", out)
        if not m:
            raise SystemExit(f"sockperf printed no {label} percentile:\n{out[-500:]}")
        return float(m.group(1))
    avg = re.search(r"avg-latency=([\d.]+)", out)
    mx = re.search(r"<MAX> observation =\s*([\d.]+)", out)
    obs = re.search(r"Total (\d+) observations", out)
    return {"avg_us": float(avg.group(1)), "p99_us": pct("99.000"), "p999_us": pct("99.900"),
            "max_us": float(mx.group(1)) if mx else None, "observations": int(obs.group(1)) if obs else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--type", default="HTTP", choices=["HTTP", "TCP"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="fulcrum-health-load.")
    procs: list[subprocess.Popen] = []

    def spawn(argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        procs.append(p)
        return p

    def stop(p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def cleanup(*_):
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        nginx_dir = os.path.join(work, "nginx")
        os.makedirs(nginx_dir)
        with open(os.path.join(nginx_dir, "nginx.conf"), "w") as f:
            f.write(f"""daemon off; worker_processes 1; pid {nginx_dir}/nginx.pid; error_log {nginx_dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen 0.0.0.0:{HEALTH_PORT} reuseport; location / {{ return 200 "ok\\n"; }} }} }}
""")
        spawn(["nginx", "-p", nginx_dir, "-c", os.path.join(nginx_dir, "nginx.conf")],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spawn(["sockperf", "server", "--tcp", "-i", HOST, "-p", str(SOCKPERF_PORT)],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

        results: dict[str, list[dict]] = {"quiet": [], "busy": []}
        for r in range(args.rounds):
            for mode in ("quiet", "busy"):
                cdir = os.path.join(work, f"{mode}-{r}")
                os.makedirs(cdir)
                write_config(cdir, args.members if mode == "busy" else 0, args.delay, args.type)
                logpath = os.path.join(cdir, "fulcrumd.log")
                logf = open(logpath, "w")
                d = spawn([args.binary, "--config-dir", cdir], stdout=subprocess.DEVNULL, stderr=logf)
                wait_for(lambda: "fulcrumd ready" in open(logpath).read(), 30, "fulcrumd ready")
                # Let the checker settle: every member checked at least max_retries times.
                time.sleep(max(2.0, args.delay * 4))
                before, t0 = thread_ticks(d.pid), time.time()
                lat = sockperf(args.duration)
                after, t1 = thread_ticks(d.pid), time.time()
                cpu = {k: (after.get(k, 0) - before.get(k, 0)) / CLK_TCK / (t1 - t0) for k in after}
                text = open(logpath).read()
                online = len(re.findall(r"is ONLINE \(was UNKNOWN\)", text))
                errors = len(re.findall(r"is ERROR", text))
                stop(d)
                logf.close()
                row = {**lat, "cpu_worker": cpu.get("worker", 0.0), "cpu_health": cpu.get("health", 0.0),
                       "members_online": online, "members_error": errors}
                results[mode].append(row)
                log(f"round {r + 1} {mode:5}: avg {lat['avg_us']:.1f} us, p99 {lat['p99_us']:.1f}, p99.9 {lat['p999_us']:.1f}, "
                    f"max {lat['max_us']}, worker CPU {row['cpu_worker']:.2f}, health CPU {row['cpu_health']:.3f}, "
                    f"members ONLINE {online}, ERROR {errors}")

        def median(mode, key):
            values = sorted(x[key] for x in results[mode] if x[key] is not None)
            return values[len(values) // 2] if values else None

        print()
        print(f"health checker load: {args.members} members, {args.type} every {args.delay} s "
              f"({args.members / args.delay:,.0f} checks/s), {args.rounds} rounds x {args.duration} s, medians")
        print(f"{'metric':28} {'quiet':>10} {'busy':>10} {'busy/quiet':>11}")
        for key, label in [("avg_us", "TCP pp avg us"), ("p99_us", "TCP pp p99 us"), ("p999_us", "TCP pp p99.9 us"),
                           ("max_us", "TCP pp max us"), ("cpu_worker", "worker CPU (cores)"),
                           ("cpu_health", "health thread CPU (cores)"), ("members_online", "members ONLINE")]:
            q, b = median("quiet", key), median("busy", key)
            ratio = f"{b / q:.2f}" if q and b is not None and key not in ("cpu_health", "members_online") else "-"
            fmt = (lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)))
            print(f"{label:28} {fmt(q):>10} {fmt(b):>10} {ratio:>11}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=1)
        busy_online = median("busy", "members_online")
        if busy_online != args.members:
            log(f"warning: {busy_online} of {args.members} members reached ONLINE")
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
