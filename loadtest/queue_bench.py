#!/usr/bin/env python3
"""Benchmarks the ACD shared through Redis, and prints a report.

Two parts (see loadtest/README.md for how to read them):

1. the store alone (`acd-bench`): matches per second one Redis sustains
   with 1, 4 and 8 simulated nodes contending for one queue, and Redis
   round trips per answered call;
2. the call centre: NODES nodes sharing one Redis, AGENTS agents (one SIPp
   answering for all of them, talking --talk ms each call, then hanging up)
   and callers arriving on every node a little faster than the agents can
   serve them, so that callers wait and every freed agent is matched at
   once. Reported: answered calls, the time from an agent becoming free to
   the INVITE to them leaving the caller's node (the nodes'
   cc_acd_offer_dispatch_seconds, p50 and p99), Redis round trips per
   answered call (the nodes' own count, and EVALSHA calls in Redis's
   INFO commandstats), node CPU per call.

It starts its own Redis (no persistence) on a free loopback port, and a
release build of the node. Needs redis-server, SIPp (Debian sip-tester)
and the Python standard library.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import ROOT, free_port, proc_cpu, run_sipp, write_prompt  # noqa: E402

UNIT = "bench-queue"
NUMBER = "5002"


def redis_cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return out.stdout


def evalsha_calls(port):
    for line in redis_cli(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_evalsha:calls="):
            return int(line.split("=", 1)[1].split(",", 1)[0])
    return 0


def start_redis(workdir):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if redis_cli(port, "PING").strip() == "PONG":
            return proc, port
        time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def unit_yaml(agents, agent_port):
    lines = [
        "# Written by loadtest/queue_bench.py.",
        f"unit: {UNIT}",
        "name: Benchmark queue",
        f'service_numbers: ["{NUMBER}"]',
        "timezone: Europe/Madrid",
        "prompts:",
        "  moh: moh.wav",
        "agents:",
    ]
    for i in range(agents):
        lines.append(f'  - {{ id: a{i}, name: Agent {i}, uri: "sip:a{i}@127.0.0.1:{agent_port}", endpoint: desk_phone }}')
    lines += [
        "queues:",
        "  desk:",
        f"    agents: [{', '.join(f'a{i}' for i in range(agents))}]",
        "    strategy: longest_idle",
        "    ring_timeout: 15s",
        "    max_wait: 30m",
        "    music_on_hold: moh",
        "flow:",
        "  start: wait",
        "  steps:",
        "    wait:",
        "      queue: { queue: desk }",
    ]
    return "\n".join(lines) + "\n"


class QueueNode:
    def __init__(self, name, workdir, units, redis_port, rtp_range):
        self.sip_port = free_port()
        self.http_port = free_port()
        env = dict(os.environ)
        env.update({
            "CC__NODE__NAME": name,
            "CC__SIP__LISTEN": f"127.0.0.1:{self.sip_port}",
            "CC__HTTP__LISTEN": f"127.0.0.1:{self.http_port}",
            "CC__MEDIA__PORT_MIN": str(rtp_range[0]),
            "CC__MEDIA__PORT_MAX": str(rtp_range[1]),
            "CC__PATHS__UNITS": units,
            "CC__PATHS__RECORDS": os.path.join(workdir, f"{name}-records.jsonl"),
            "CC__PATHS__VOICEMAIL": os.path.join(workdir, "voicemail"),
            "CC__LIMITS__MAX_CALLS": "20000",
            "CC__MEDIA__RTP_TIMEOUT_S": "86400",
            "CC__LOG__LEVEL": "warn",
            "CC__ACD__STORE": "redis",
            "CC__REDIS__URL": f"redis://127.0.0.1:{redis_port}/",
        })
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        self.proc = subprocess.Popen([os.path.join(ROOT, "target/release/cc-node")], env=env,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline and self.metrics_text() is None:
            time.sleep(0.1)
        if self.metrics_text() is None:
            raise SystemExit("a node did not start; see " + self.log.name)

    def http(self, method, path):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.read().decode()

    def metrics_text(self):
        try:
            return self.http("GET", "/metrics")
        except OSError:
            return None

    def metric(self, prefix):
        text = self.metrics_text() or ""
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))

    def connects(self):
        """CONNECT events this node counted for the benchmark queue."""
        total = 0.0
        for line in (self.metrics_text() or "").splitlines():
            if line.startswith("cc_queue_events_total{") and 'event="CONNECT"' in line and f'unit="{UNIT}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def buckets(self, name):
        """Cumulative bucket counts of a histogram, by upper bound."""
        out = {}
        for line in (self.metrics_text() or "").splitlines():
            if line.startswith(name + "_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def quantile(buckets, q):
    """histogram_quantile: linear within the bucket holding the quantile."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if total == 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return bounds[-1]


def store_part(args, redis_port):
    rows = []
    for nodes in args.store_nodes:
        redis_cli(redis_port, "FLUSHALL")
        out = subprocess.run(
            [os.path.join(ROOT, "target/release/acd-bench"), "--redis", f"redis://127.0.0.1:{redis_port}/",
             "--nodes", str(nodes), "--agents", str(args.store_agents), "--waiting", str(max(1, 200 // nodes)),
             "--seconds", str(args.store_seconds)],
            capture_output=True, text=True, check=True)
        row = json.loads(out.stdout)
        rows.append(row)
        print(f"  {nodes} node(s), {row['agents']} agents: {row['matches_per_second']:.0f} matches/s, "
              f"{row['round_trips_per_answered_call']:.2f} round trips and "
              f"{row['evalsha_per_answered_call']:.2f} EVALSHA per answered call", flush=True)
    return rows


def calls_part(args, redis_port, workdir):
    redis_cli(redis_port, "FLUSHALL")
    agent_port = free_port()
    units = os.path.join(workdir, "units")
    os.makedirs(os.path.join(units, "prompts", UNIT), exist_ok=True)
    with open(os.path.join(units, f"{UNIT}.yaml"), "w") as f:
        f.write(unit_yaml(args.agents, agent_port))
    write_prompt(os.path.join(units, "prompts", UNIT, "moh.wav"), 10.0, 2)
    nodes = []
    for i in range(args.nodes):
        base = 20000 + i * 6000
        nodes.append(QueueNode(f"node{i}", workdir, units, redis_port, (base, base + 5998)))
    # RTP from the nodes to the agents lands on a socket nobody reads.
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.1", 0))
    agent_stat = os.path.join(workdir, "agents.csv")
    agents = subprocess.Popen(
        ["sipp", "-sf", os.path.join(HERE, "scenarios", "agent_answers_hangs_up.xml"), "-i", "127.0.0.1",
         "-p", str(agent_port), "-mp", str(free_port()), "-key", "rtp_ip", "127.0.0.1",
         "-key", "rtp_port", str(blackhole.getsockname()[1]), "-d", str(args.talk), "-nostdin",
         "-trace_stat", "-stf", agent_stat, "-fd", "1", "-max_recv_loops", "10000", "-max_sched_loops", "10000"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for i in range(args.agents):
            nodes[i % len(nodes)].http("POST", f"/units/{UNIT}/agents/a{i}/login")
        time.sleep(1.5)
        dispatch_before = [n.buckets("cc_acd_offer_dispatch_seconds") for n in nodes]
        commands_before = sum(n.metric("cc_acd_redis_commands_total") for n in nodes)
        connects_before = sum(n.connects() for n in nodes)
        evalsha_before = evalsha_calls(redis_port)
        cpu_before = [proc_cpu(n.proc.pid) for n in nodes]
        started = time.time()
        per_node = args.calls // len(nodes)
        rate = args.rate / len(nodes)
        results = [None] * len(nodes)

        def callers(i):
            folder = tempfile.mkdtemp(prefix=f"callers{i}-", dir=workdir)
            results[i] = run_sipp(f"127.0.0.1:{nodes[i].sip_port}", "caller_node_hangs_up.xml", NUMBER,
                                  rate, per_node, per_node, 0, free_port(), folder,
                                  int(per_node / rate) + 300)

        threads = [threading.Thread(target=callers, args=(i,)) for i in range(len(nodes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        time.sleep(1.5)  # the nodes count Redis commands at each heartbeat
        answered = sum(n.connects() for n in nodes) - connects_before
        commands = sum(n.metric("cc_acd_redis_commands_total") for n in nodes) - commands_before
        evalsha = evalsha_calls(redis_port) - evalsha_before
        cpu = sum(proc_cpu(n.proc.pid) - before for n, before in zip(nodes, cpu_before))
        dispatch = {}
        for node, before in zip(nodes, dispatch_before):
            for bound, count in node.buckets("cc_acd_offer_dispatch_seconds").items():
                dispatch[bound] = dispatch.get(bound, 0) + count - before.get(bound, 0)
        successful = sum(r["successful"] for r in results)
        failed = sum(r["failed"] for r in results)
        p50, p99 = quantile(dispatch, 0.50), quantile(dispatch, 0.99)
        row = {
            "nodes": args.nodes,
            "agents": args.agents,
            "talk_ms": args.talk,
            "offered_rate": args.rate,
            "capacity_rate": args.agents * 1000 / (args.talk + 50),
            "calls": args.calls,
            "callers_successful": successful,
            "callers_failed": failed,
            "answered": answered,
            "elapsed_s": elapsed,
            "answered_per_second": answered / elapsed if elapsed else 0,
            "offer_dispatch_p50_ms": None if p50 is None else 1000 * p50,
            "offer_dispatch_p99_ms": None if p99 is None else 1000 * p99,
            "offers_measured": dispatch.get(float("inf"), 0),
            "redis_round_trips_per_answered_call": commands / answered if answered else None,
            "evalsha_per_answered_call": evalsha / answered if answered else None,
            "node_cpu_ms_per_call": 1000 * cpu / answered if answered else None,
        }
        print(f"  {args.nodes} nodes, {args.agents} agents talking {args.talk} ms, callers at {args.rate}/s: "
              f"{answered:.0f} answered ({successful} callers served, {failed} failed) in {elapsed:.0f} s", flush=True)
        if p99 is not None:
            print(f"  agent free -> INVITE to them: p50 {1000 * p50:.1f} ms, p99 {1000 * p99:.1f} ms "
                  f"({row['offers_measured']:.0f} offers)", flush=True)
        if answered:
            print(f"  Redis round trips per answered call: {row['redis_round_trips_per_answered_call']:.2f} "
                  f"(EVALSHA {row['evalsha_per_answered_call']:.2f}); node CPU {row['node_cpu_ms_per_call']:.2f} ms/call",
                  flush=True)
        return row
    finally:
        agents.terminate()
        for n in nodes:
            n.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store-nodes", default="1,4,8", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--store-agents", type=int, default=50)
    parser.add_argument("--store-seconds", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--talk", type=int, default=2000, help="ms each agent talks")
    parser.add_argument("--rate", type=float, default=24, help="callers per second, over all nodes")
    parser.add_argument("--calls", type=int, default=1200, help="callers, over all nodes")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-calls", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "cc-node", "-p", "cc-loadtest"], cwd=ROOT, check=True)
    workdir = tempfile.mkdtemp(prefix="cc-queue-bench-")
    redis, redis_port = start_redis(workdir)
    report = {"machine": {"cpus": os.cpu_count(), "kernel": os.uname().release, "loadavg_at_start": os.getloadavg()}}
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; Redis, nodes and SIPp on the same machine",
          flush=True)
    try:
        if not args.skip_store:
            print("the ACD store alone (acd-bench, one Redis):", flush=True)
            report["store"] = store_part(args, redis_port)
        if not args.skip_calls:
            print("calls through the nodes (SIPp callers and agents):", flush=True)
            report["calls"] = calls_part(args, redis_port, workdir)
    finally:
        redis.terminate()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(f"(work files in {workdir})")


if __name__ == "__main__":
    main()
