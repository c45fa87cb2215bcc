#!/usr/bin/env python3
"""Benchmarks a call-centre node with SIPp, and prints a report.

Three figures (see loadtest/README.md for how to read them):

1. calls per second of the welcome-and-hang-up flow at >= 99.9 % success,
   ramping the rate, with the node's CPU time per call;
2. concurrent calls with media (a prompt, then music on hold, held for
   --hold seconds), with the share of RTP packets that reach an outside
   receiver more than 5 ms after their schedule;
3. resident memory per concurrent call.

By default it builds and starts a release node on free loopback ports with
the units in loadtest/units/. With --target HOST:PORT it drives any other SIP
system instead (give the service numbers with --welcome-number and
--moh-number); node-side figures (CPU, memory, node metrics) are then only
reported if --pid names the system's process.

Only the Python standard library, SIPp (Debian sip-tester) and the project's
own rtp-sink are used.
"""

import argparse
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "loadtest")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def write_prompt(path, seconds, seed):
    rng = random.Random(seed)
    frames = bytearray()
    level = 0.0
    for i in range(int(seconds * 8000)):
        level = 0.95 * level + 0.05 * rng.uniform(-1, 1)
        envelope = 0.5 + 0.5 * abs(((i // 800) % 10) - 5) / 5
        frames += struct.pack("<h", int(max(-1, min(1, level * 8)) * 9000 * envelope))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_cpu():
    usage = os.times()
    return usage.children_user + usage.children_system


class Node:
    def __init__(self, workdir, rtp_range):
        binary = os.path.join(ROOT, "target/release/cc-node")
        units = os.path.join(workdir, "units")
        shutil.copytree(os.path.join(HERE, "units"), units)
        for unit in ("bench-welcome", "bench-moh"):
            folder = os.path.join(units, "prompts", unit)
            os.makedirs(folder, exist_ok=True)
            write_prompt(os.path.join(folder, "welcome.wav"), 1.0, 1)
            write_prompt(os.path.join(folder, "moh.wav"), 10.0, 2)
        self.sip_port = free_port()
        self.http_port = free_port()
        env = dict(os.environ)
        env.update({
            "CC__NODE__NAME": "bench",
            "CC__SIP__LISTEN": f"127.0.0.1:{self.sip_port}",
            "CC__HTTP__LISTEN": f"127.0.0.1:{self.http_port}",
            "CC__MEDIA__PORT_MIN": str(rtp_range[0]),
            "CC__MEDIA__PORT_MAX": str(rtp_range[1]),
            "CC__PATHS__UNITS": units,
            "CC__PATHS__RECORDS": os.path.join(workdir, "records.jsonl"),
            "CC__PATHS__VOICEMAIL": os.path.join(workdir, "voicemail"),
            "CC__LIMITS__MAX_CALLS": "20000",
            # SIPp's callers send no RTP; a node would end them as dead.
            "CC__MEDIA__RTP_TIMEOUT_S": "86400",
            "CC__LOG__LEVEL": "warn",
        })
        self.log = open(os.path.join(workdir, "node.log"), "w")
        self.proc = subprocess.Popen([binary], env=env, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.metrics_text() is not None:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the node did not start; see " + self.log.name)
        # The queue of the concurrency benchmark needs its (unreachable) agent
        # logged in, or callers would be turned away as "no agents".
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/units/bench-moh/agents/ghost/login", method="POST")
        urllib.request.urlopen(request, timeout=5).read()

    def metrics_text(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    def metric(self, prefix):
        text = self.metrics_text() or ""
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_sipp(target, scenario, number, rate, count, limit, hold_ms, rtp_port, workdir, timeout):
    stat = os.path.join(workdir, f"stat-{number}-{rate}-{count}-{time.time():.0f}.csv")
    for leftover in [f for f in os.listdir(workdir) if f.endswith(".csv")]:
        os.remove(os.path.join(workdir, leftover))
    command = [
        "sipp", target, "-sf", os.path.join(HERE, "scenarios", scenario), "-s", number,
        "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
        "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(rtp_port),
        "-r", str(rate), "-rp", "1000", "-m", str(count), "-l", str(limit), "-d", str(hold_ms),
        "-trace_stat", "-stf", stat, "-fd", "1", "-nostdin", "-timeout", f"{timeout}s",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
    ]
    started = time.time()
    subprocess.run(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout + 30)
    elapsed = time.time() - started
    with open(stat) as f:
        rows = [line.strip().split(";") for line in f if line.strip()]
    header, last = rows[0], rows[-1]
    value = lambda name: int(float(last[header.index(name)])) if name in header else 0
    return {
        "successful": value("SuccessfulCall(C)"),
        "failed": value("FailedCall(C)"),
        "retransmissions": value("Retransmissions(C)"),
        "elapsed_s": elapsed,
    }


def wait_idle(node, within=60):
    if node is None:
        time.sleep(3)
        return
    deadline = time.time() + within
    while time.time() < deadline and node.metric("cc_node_calls_active") > 0:
        time.sleep(0.5)


def rate_ramp(args, node, target, workdir):
    sink_port = free_port()
    sink = subprocess.Popen([os.path.join(ROOT, "target/release/rtp-sink"), str(sink_port), "100000"],
                            stdout=subprocess.DEVNULL)
    results = []
    best = None
    misses = 0
    try:
        for rate in args.rates:
            wait_idle(node)
            count = rate * args.step_seconds
            cpu0 = proc_cpu(args.pid or node.pid) if (node or args.pid) else None
            sipp_cpu0 = children_cpu()
            r = run_sipp(target, "caller_node_hangs_up.xml", args.welcome_number, rate, count, 100000, 0,
                         sink_port, workdir, args.step_seconds + 120)
            wait_idle(node)
            ratio = r["successful"] / count if count else 0
            row = {"rate": rate, "calls": count, **r, "success": ratio,
                   "sipp_cpu_s": children_cpu() - sipp_cpu0}
            if cpu0 is not None:
                cpu = proc_cpu(args.pid or node.pid) - cpu0
                row["node_cpu_s"] = cpu
                row["node_cpu_ms_per_call"] = 1000 * cpu / max(1, r["successful"])
            results.append(row)
            print(f"  {rate:>5} calls/s: {r['successful']}/{count} ok ({100 * ratio:.3f} %), "
                  f"{r['retransmissions']} retransmissions"
                  + (f", node CPU {row['node_cpu_ms_per_call']:.3f} ms/call" if "node_cpu_ms_per_call" in row else ""),
                  flush=True)
            if ratio >= 0.999:
                best = row
                misses = 0
            else:
                misses += 1
                if misses >= 2:
                    break
    finally:
        sink.terminate()
    return results, best


def concurrency(args, node, target, workdir, fresh_node):
    """Each level on a fresh node (when we run it), so that its resident
    memory measures this level's calls and not what earlier runs left."""
    results = []
    for level in args.concurrent:
        if fresh_node:
            if node:
                node.stop()
            node = fresh_node()
            target = f"127.0.0.1:{node.sip_port}"
            time.sleep(1)
        wait_idle(node, 120)
        ramp = args.ramp_rate
        ramp_s = level / ramp
        sink_port = free_port()
        sink_seconds = int(ramp_s + args.hold + 15)
        sink = subprocess.Popen([os.path.join(ROOT, "target/release/rtp-sink"), str(sink_port), str(sink_seconds)],
                                stdout=subprocess.PIPE, text=True)
        pid = args.pid or (node.pid if node else None)
        rss_idle = proc_rss_kib(pid) if pid else None
        out0 = node.metric('cc_rtp_packets_total{node="bench",direction="out"}') if node else 0
        late0 = node.metric("cc_rtp_late_packets_total") if node else 0
        result = {}

        def go():
            result.update(run_sipp(target, "caller_hangs_up.xml", args.moh_number, ramp, level, level,
                                   args.hold * 1000, sink_port, workdir, int(ramp_s + args.hold + 120)))

        thread = threading.Thread(target=go)
        thread.start()
        # Memory once every call is up and playing.
        peak_rss = None
        active = 0
        deadline = time.time() + ramp_s + 30
        while time.time() < deadline and thread.is_alive():
            active = node.metric("cc_node_calls_active") if node else level
            if active >= level:
                time.sleep(2)
                peak_rss = proc_rss_kib(pid) if pid else None
                break
            time.sleep(0.5)
        thread.join()
        summary = json.loads(sink.communicate()[0] or "{}")
        row = {"concurrent": level, "hold_s": args.hold, **result, "reached_active": active, "sink": summary}
        if node:
            out = node.metric('cc_rtp_packets_total{node="bench",direction="out"}') - out0
            late = node.metric("cc_rtp_late_packets_total") - late0
            row["node_rtp_out"] = out
            row["node_late_share"] = late / out if out else 0
        if peak_rss and rss_idle:
            row["rss_idle_kib"] = rss_idle
            row["rss_peak_kib"] = peak_rss
            row["rss_per_call_kib"] = (peak_rss - rss_idle) / level
        results.append(row)
        if node:
            row["node_log"] = node.log.name
        print(f"  {level:>5} concurrent: {result.get('successful')}/{level} ok, sink got {summary.get('packets')} packets "
              f"from {summary.get('streams')} streams, {100 * summary.get('late_share', 0):.3f} % > 5 ms late"
              + (f", node says {100 * row['node_late_share']:.3f} %" if "node_late_share" in row else "")
              + (f", {row['rss_per_call_kib']:.1f} KiB/call" if "rss_per_call_kib" in row else ""), flush=True)
    if node and fresh_node:
        node.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", help="HOST:PORT of another SIP system (default: start a node here)")
    parser.add_argument("--pid", type=int, help="that system's process, for CPU and memory")
    parser.add_argument("--welcome-number", default="5000")
    parser.add_argument("--moh-number", default="5001")
    parser.add_argument("--rates", default="200,400,600,800,900,1000,1200,1400,1600,1800,2000",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--step-seconds", type=int, default=20)
    parser.add_argument("--concurrent", default="500,1000,2000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--ramp-rate", type=int, default=200, help="calls/s while filling up to a concurrency level")
    parser.add_argument("--hold", type=int, default=60, help="seconds each concurrent call lasts")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "cc-node", "-p", "cc-loadtest"], cwd=ROOT, check=True)
    workdir = tempfile.mkdtemp(prefix="cc-bench-")
    node = None
    fresh_node = None
    if args.target:
        target = args.target
    else:
        def fresh_node():
            folder = tempfile.mkdtemp(prefix="node-", dir=workdir)
            base = 20000 + random.randrange(0, 2000) * 2
            return Node(folder, (base, base + 2 * 12000))
        node = fresh_node()
        target = f"127.0.0.1:{node.sip_port}"
    machine = {
        "cpus": os.cpu_count(),
        "kernel": os.uname().release,
        "loadavg_at_start": os.getloadavg(),
        "sipp": subprocess.run(["sipp", "-v"], capture_output=True, text=True).stdout.strip().splitlines()[0:1],
    }
    print(f"target {target}; machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; SIPp on the same machine",
          flush=True)
    report = {"target": target, "machine": machine}
    try:
        if not args.skip_rate:
            print("calls per second (welcome prompt, then the system hangs up):", flush=True)
            rows, best = rate_ramp(args, node, target, workdir)
            report["rate"] = rows
            report["best_rate"] = best
            if best:
                print(f"=> {best['rate']} calls/s at {100 * best['success']:.3f} % success"
                      + (f", {best['node_cpu_ms_per_call']:.3f} ms node CPU per call" if "node_cpu_ms_per_call" in best else ""),
                      flush=True)
        if not args.skip_concurrency:
            print(f"concurrent calls with media (prompt, then music on hold, {args.hold} s):", flush=True)
            if node:
                node.stop()
            report["concurrency"] = concurrency(args, None, target, workdir, fresh_node)
            node = None
    finally:
        if node:
            node.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(f"(work files in {workdir})")


if __name__ == "__main__":
    main()
