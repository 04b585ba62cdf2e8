#!/usr/bin/env python3
"""Does a busy health checker stall forwarding, and what do the checks cost?

Runs fulcrumd (workers = 1) and HAProxy (nbthread 1), each twice over, alternating round by round:
  quiet: a TCP listener in front of a sockperf server, nothing else;
  busy:  the same, plus a pool (backend) of N members (default 500) checked every DELAY seconds
         (default 0.2 s, HTTP checks against a real nginx, so 2,500 checks/s).
For each it measures the process's CPU while it only checks (3 s, no traffic), then TCP
ping-pong latency through the listener (sockperf, 64 B). Prints one table: busy / quiet for each
proxy, and Fulcrum's check CPU as a ratio to HAProxy's. Started by bench/health-load, which
installs the tools and builds fulcrumd.
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


def write_haproxy(directory: str, members: int, delay: float, monitor_type: str) -> str:
    path = os.path.join(directory, "haproxy.cfg")
    ms = int(delay * 1000)
    lines = ["global", "    maxconn 4096", "    nbthread 1", "", "defaults", "    mode tcp",
             "    timeout connect 5s", "    timeout client 60s", "    timeout server 60s", "",
             "frontend pp", f"    bind {HOST}:{LISTEN_PORT}", "    default_backend pp", "",
             "backend pp", f"    server sockperf {HOST}:{SOCKPERF_PORT}", ""]
    if members:
        lines += ["frontend many", f"    bind {HOST}:{LISTEN_PORT + 1}", "    default_backend many", "",
                  "backend many", f"    timeout check {ms // 2}ms"]
        if monitor_type == "HTTP":
            lines += ["    option httpchk GET /"]
        lines += [f"    default-server check inter {ms}ms rise 3 fall 3"]
        for i in range(members):
            lines.append(f"    server m{i} 127.0.{1 + i // 250}.{1 + i % 250}:{HEALTH_PORT}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


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

        results: dict[str, list[dict]] = {k: [] for k in ("fulcrum-quiet", "fulcrum-busy", "haproxy-quiet", "haproxy-busy")}
        for r in range(args.rounds):
            for key in results:
                proxy, mode = key.split("-")
                cdir = os.path.join(work, f"{key}-{r}")
                os.makedirs(cdir)
                members = args.members if mode == "busy" else 0
                logpath = os.path.join(cdir, "proxy.log")
                logf = open(logpath, "w")
                if proxy == "fulcrum":
                    write_config(cdir, members, args.delay, args.type)
                    d = spawn([args.binary, "--config-dir", cdir], stdout=subprocess.DEVNULL, stderr=logf)
                    wait_for(lambda: "fulcrumd ready" in open(logpath).read(), 30, "fulcrumd ready")
                else:
                    cfg = write_haproxy(cdir, members, args.delay, args.type)
                    d = spawn(["haproxy", "-db", "-f", cfg], stdout=logf, stderr=logf)
                    wait_for(lambda: subprocess.run(["ss", "-Hltn", f"sport = :{LISTEN_PORT}"], capture_output=True,
                                                    text=True).stdout.strip() != "", 30, "haproxy listening")
                # Let the checker settle: every member checked several times.
                time.sleep(max(2.0, args.delay * 5))
                t0, c0 = time.time(), process_ticks(d.pid)
                threads0 = thread_ticks(d.pid) if proxy == "fulcrum" else {}
                time.sleep(3)
                idle_cpu = (process_ticks(d.pid) - c0) / CLK_TCK / (time.time() - t0)
                health_cpu = ((thread_ticks(d.pid).get("health", 0) - threads0.get("health", 0)) / CLK_TCK / (time.time() - t0)
                              if proxy == "fulcrum" else None)
                lat = sockperf(args.duration)
                text = open(logpath).read()
                if proxy == "fulcrum":
                    online = len(re.findall(r"is ONLINE \(was UNKNOWN\)", text))
                    down = len(re.findall(r"is ERROR", text))
                else:
                    down = len(re.findall(r"is DOWN", text))
                    online = members - down
                stop(d)
                logf.close()
                row = {**lat, "idle_cpu": idle_cpu, "health_cpu": health_cpu, "members_up": online, "members_down": down}
                results[key].append(row)
                log(f"round {r + 1} {key:13}: avg {lat['avg_us']:.1f} us, p99 {lat['p99_us']:.1f}, p99.9 {lat['p999_us']:.1f}, "
                    f"max {lat['max_us']}, CPU while only checking {idle_cpu:.3f} cores, members up {online}, down {down}")

        def median(key, field):
            values = sorted(x[field] for x in results[key] if x[field] is not None)
            return values[len(values) // 2] if values else None

        def fmt(v):
            return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

        def ratio(a, b):
            return f"{a / b:.2f}" if a is not None and b else "-"

        print()
        print(f"health checks: {args.members} members, {args.type} every {args.delay} s "
              f"({args.members / args.delay:,.0f} checks/s), {args.rounds} rounds x {args.duration} s, medians")
        print(f"{'metric':30} {'F quiet':>9} {'F busy':>9} {'F b/q':>6} {'H quiet':>9} {'H busy':>9} {'H b/q':>6}")
        for field, label in [("avg_us", "TCP pp avg us"), ("p99_us", "TCP pp p99 us"), ("p999_us", "TCP pp p99.9 us"),
                             ("max_us", "TCP pp max us"), ("idle_cpu", "CPU while only checking"),
                             ("members_up", "members up")]:
            fq, fb = median("fulcrum-quiet", field), median("fulcrum-busy", field)
            hq, hb = median("haproxy-quiet", field), median("haproxy-busy", field)
            show = field not in ("idle_cpu", "members_up")
            print(f"{label:30} {fmt(fq):>9} {fmt(fb):>9} {ratio(fb, fq) if show else '-':>6} "
                  f"{fmt(hq):>9} {fmt(hb):>9} {ratio(hb, hq) if show else '-':>6}")
        fcpu, hcpu = median("fulcrum-busy", "idle_cpu"), median("haproxy-busy", "idle_cpu")
        print(f"check CPU, Fulcrum / HAProxy: {ratio(fcpu, hcpu)} (Fulcrum {fmt(fcpu)} cores, of which the health "
              f"thread {fmt(median('fulcrum-busy', 'health_cpu'))}; HAProxy {fmt(hcpu)})")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=1)
        if median("fulcrum-busy", "members_up") != args.members:
            log(f"warning: {median('fulcrum-busy', 'members_up')} of {args.members} members reached ONLINE")
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
