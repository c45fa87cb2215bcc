#!/usr/bin/env python3
"""Load test of the whole cluster: callers from the telephony platform's
trunk, through Kamailio, to the nodes, queued in Redis, offered to agents
registered with Kamailio, who ring, answer, talk and hang up.

It starts a local cluster with scripts/cluster.sh (Kamailio, CC_NODES nodes,
Redis, PostgreSQL, Prometheus) whose only unit is generated here: unit
`cluster-bench`, number 5003, one queue of --agents agents
sip:agentNNN@cc.local (longest idle), music on hold while callers wait, then
hang-up. Then:

1. the agents' accounts are in Kamailio's database (cluster.sh seeds them);
2. ONE SIPp (agent_rings_answers_hangs_up.xml) answers for every agent: it
   rings --ring-ms, answers, talks --talk-ms, hangs up through the
   Record-Route set;
3. ONE SIPp (agent_registers.xml) registers every agent through Kamailio
   with digest credentials from an injection file, the Contact at the
   answering SIPp;
4. the agents are logged in on the nodes' HTTP (spread over the nodes);
5. for each rate of --rates, SIPp callers (caller_node_hangs_up.xml) send
   from the trunk's address (trusted) for --step-seconds, with their RTP to
   a socket here; the step ends when every call has ended.

Per step: calls offered, answered by an agent, completed and failed (the
callers' SIPp), success ratio, answered calls per second, the queue wait
p50/p90/p99 from the nodes' cc_queue_wait_seconds histograms (the buckets'
difference over the step, interpolated as histogram_quantile does) and,
exactly, from the call records; the spread over the nodes (the nodes' calls
and Kamailio's per-node INVITEs); CPU of each part. The report names the
highest rate with at least 99.9 % of calls answered and completed.

Needs: what scripts/cluster.sh needs, SIPp, Python's standard library.
"""

import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import ROOT, CLK_TCK, free_port, proc_cpu, write_prompt  # noqa: E402
from queue_bench import quantile  # noqa: E402

UNIT = "cluster-bench"
NUMBER = "5003"
QUEUE = "desk"
SCENARIOS = os.path.join(HERE, "scenarios")
SIGNALLING_MS = 100  # per call, on top of ring and talk: SIP round trips, the ACD's match


# ------------------------------------------------------------------ helpers

def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, value)] of a Prometheus or OpenMetrics text."""
    out = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), value))
    return out


def http(method, url, timeout=10):
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def kamailio_metrics(port):
    """Kamailio keeps the connection open after its answer: read by Content-Length."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if length and len(body) >= int(length.group(1)):
                        return body[:int(length.group(1))].decode()
            return data.partition(b"\r\n\r\n")[2].decode()
    except OSError:
        return ""


def process_tree_cpu(pid):
    """CPU seconds of a process and its children (Kamailio's workers)."""
    total = 0.0
    try:
        total += proc_cpu(pid)
    except OSError:
        return 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine_busy():
    """(busy, total) jiffies of every CPU, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def exact_quantile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def sipp_stats(path):
    """The last row of a SIPp -trace_stat file, as {column: value}."""
    try:
        with open(path) as f:
            rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def stat_int(stats, name):
    try:
        return int(float(stats.get(name, 0)))
    except ValueError:
        return 0


class Drain:
    """UDP sockets that read and count whatever RTP reaches them."""

    def __init__(self, count):
        self.sockets = []
        self.packets = [0] * count
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.2)
            self.sockets.append(s)
        self.running = True
        self.threads = [threading.Thread(target=self.read, args=(i,), daemon=True) for i in range(count)]
        for t in self.threads:
            t.start()

    def port(self, i):
        return self.sockets[i].getsockname()[1]

    def read(self, i):
        s = self.sockets[i]
        while self.running:
            try:
                s.recv(2048)
                self.packets[i] += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(1)
        for s in self.sockets:
            s.close()


# ------------------------------------------------------------------ the cluster

class Cluster:
    def __init__(self, folder):
        self.dir = folder
        self.env = read_env(os.path.join(folder, "cluster.env"))
        e = self.env
        self.nodes = int(e["CC_NODES"])
        self.kam_sip = int(e["CC_KAMAILIO_SIP_PORT"])
        self.kam_http = int(e["CC_KAMAILIO_HTTP_PORT"])
        self.trunk = int(e["CC_TRUNK_PORT"])
        self.domain = e["CC_SIP_DOMAIN"]
        self.node_http = [int(e["CC_NODE_HTTP_BASE"]) + i for i in range(1, self.nodes + 1)]
        self.node_sip = [int(e["CC_NODE_SIP_BASE"]) + i for i in range(1, self.nodes + 1)]
        self.names = [f"node{i}" for i in range(1, self.nodes + 1)]

    def pid(self, name):
        try:
            with open(os.path.join(self.dir, f"{name}.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def records(self, i):
        return os.path.join(self.dir, self.names[i], "records.jsonl")

    def node_metrics(self, i):
        return parse_metrics(http("GET", f"http://127.0.0.1:{self.node_http[i]}/metrics")[1])

    def post(self, i, path):
        return http("POST", f"http://127.0.0.1:{self.node_http[i]}{path}")

    def psql(self, sql):
        e = self.env
        out = subprocess.run(
            ["psql", "-h", e["CC_PGHOST"], "-p", e["CC_PGPORT"], "-U", e["CC_PGUSER"], "-d", e["CC_DB"],
             "-v", "ON_ERROR_STOP=1", "-qAtX", "-w", "-c", sql],
            capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"psql: {out.stderr.strip()}")
        return out.stdout

    def credentials(self):
        creds = {}
        with open(os.path.join(self.dir, "agents.txt")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 2:
                    creds[fields[0]] = fields[1]
        return creds

    def active_calls(self):
        total = 0.0
        for i in range(self.nodes):
            total += sum(v for n, _, v in self.node_metrics(i) if n == "cc_node_calls_active")
        return total

    def wait_idle(self, within):
        deadline = time.time() + within
        while time.time() < deadline:
            if self.active_calls() == 0:
                return True
            time.sleep(0.5)
        return False

    def redis_scripts(self):
        """(calls, microseconds) of EVALSHA in Redis's INFO commandstats: the ACD's scripts."""
        out = subprocess.run(["redis-cli", "-p", self.env["CC_REDIS_PORT"], "INFO", "commandstats"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("cmdstat_evalsha:"):
                fields = dict(f.split("=", 1) for f in line.split(":", 1)[1].split(","))
                return int(fields.get("calls", 0)), float(fields.get("usec", 0))
        return 0, 0.0

    def cpu(self):
        parts = {}
        for name in self.names + ["redis", "prometheus"]:
            pid = self.pid(name)
            parts[name] = process_tree_cpu(pid) if pid else 0.0
        pid = self.pid("kamailio")
        parts["kamailio"] = process_tree_cpu(pid) if pid else 0.0
        return parts


def snapshot(cluster, agents_sipp, agents_stat):
    """Everything a step is measured by, before and after it."""
    snap = {"time": time.time(), "nodes": [], "cpu": cluster.cpu(), "machine": machine_busy(),
            "children_cpu": sum(os.times()[2:4]),
            "agents_sipp_cpu": proc_cpu(agents_sipp.pid) if agents_sipp.poll() is None else 0.0,
            "agents_stats": sipp_stats(agents_stat), "redis_scripts": cluster.redis_scripts()}
    for i in range(cluster.nodes):
        buckets, outcomes, calls, events = {}, {}, {}, {}
        for name, labels, value in cluster.node_metrics(i):
            if labels.get("unit") != UNIT:
                continue
            if name == "cc_queue_wait_seconds_bucket" and labels.get("outcome") == "answered":
                le = labels["le"]
                bound = float("inf") if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0) + value
            elif name == "cc_queue_wait_seconds_count":
                outcomes[labels.get("outcome")] = outcomes.get(labels.get("outcome"), 0) + value
            elif name == "cc_calls_total":
                calls[labels.get("outcome")] = calls.get(labels.get("outcome"), 0) + value
            elif name == "cc_queue_events_total":
                events[labels.get("event")] = events.get(labels.get("event"), 0) + value
        try:
            size = os.path.getsize(cluster.records(i))
        except OSError:
            size = 0
        snap["nodes"].append({"buckets": buckets, "outcomes": outcomes, "calls": calls, "events": events,
                              "records_offset": size})
    kam = {}
    for name, labels, value in parse_metrics(kamailio_metrics(cluster.kam_http)):
        if name == "kamailio_cc_node_invites_total":
            kam[("invites", labels.get("node"))] = value
        elif name == "kamailio_cc_refused_total":
            kam[("refused", labels.get("reason"))] = value
        elif name == "kamailio_cc_node_failovers_total":
            kam[("failovers", labels.get("node"))] = value
    snap["kamailio"] = kam
    return snap


def diff_dict(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


def new_records(cluster, i, offset):
    out = []
    try:
        with open(cluster.records(i)) as f:
            f.seek(offset)
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


# ------------------------------------------------------------------ setup

def unit_yaml(agents, args):
    width = max(3, len(str(agents)))
    ids = [f"agent{n:0{width}d}" for n in range(1, agents + 1)]
    lines = [
        "# Written by loadtest/cluster_bench.py: the cluster load test's unit.",
        f"unit: {UNIT}",
        "name: Cluster load test",
        f'service_numbers: ["{NUMBER}"]',
        "timezone: Europe/Madrid",
        "prompts:",
        "  moh: moh.wav",
        "agents:",
    ]
    lines += [f'  - {{ id: {a}, name: "Agent {a[5:]}", uri: "sip:{a}@{args.domain}", endpoint: microsip }}'
              for a in ids]
    lines += [
        "queues:",
        f"  {QUEUE}:",
        f"    agents: [{', '.join(ids)}]",
        "    strategy: longest_idle",
        f"    ring_timeout: {args.ring_timeout}s",
        f"    max_wait: {args.max_wait}s",
        "    music_on_hold: moh",
        "flow:",
        "  start: wait",
        "  steps:",
        "    wait:",
        f"      queue: {{ queue: {QUEUE}, on_timeout: bye, on_no_agents: bye, on_full: bye, on_failure: bye }}",
        "    bye:",
        "      hangup: {}",
    ]
    return "\n".join(lines) + "\n", ids


def cluster_script(args, action, env):
    result = subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), action], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.returncode, result.stdout


def register_agents(args, cluster, ids, creds, workdir):
    csv = os.path.join(workdir, "agents.csv")
    with open(csv, "w") as f:
        f.write("SEQUENTIAL\n")
        for a in ids:
            f.write(f"{a};{creds[a]}\n")
    os.chmod(csv, 0o600)
    stat = os.path.join(workdir, "register.csv")
    errors = os.path.join(workdir, "register-errors.log")
    for leftover in (stat, errors):
        if os.path.exists(leftover):
            os.remove(leftover)
    subprocess.run(
        ["sipp", f"127.0.0.1:{cluster.kam_sip}", "-sf", os.path.join(SCENARIOS, "agent_registers.xml"),
         "-inf", csv, "-i", "127.0.0.1", "-p", str(free_port()), "-key", "domain", cluster.domain,
         "-key", "contact_port", str(args.agent_port), "-m", str(len(ids)), "-r", "50", "-l", "50",
         "-trace_stat", "-stf", stat, "-fd", "1", "-trace_err", "-error_file", errors,
         "-nostdin", "-timeout", "120s"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    stats = sipp_stats(stat)
    return stat_int(stats, "SuccessfulCall(C)"), stat_int(stats, "FailedCall(C)"), errors


def run_step(args, cluster, rate, workdir, drain, agents_sipp, agents_stat, step_index):
    count = max(1, round(rate * args.step_seconds))
    before = snapshot(cluster, agents_sipp, agents_stat)
    stat = os.path.join(workdir, f"callers-{step_index}-{rate:g}.csv")
    errors = os.path.join(workdir, f"callers-{step_index}-{rate:g}-errors.log")
    hold_s = (args.max_wait + args.ring_timeout + args.talk_ms / 1000) + 60
    started = time.time()
    subprocess.run(
        ["sipp", f"127.0.0.1:{cluster.kam_sip}", "-sf", os.path.join(SCENARIOS, "caller_node_hangs_up.xml"),
         "-s", NUMBER, "-i", "127.0.0.1", "-p", str(cluster.trunk), "-mp", str(free_port()),
         "-key", "rtp_ip", "127.0.0.1", "-key", "rtp_port", str(drain.port(0)),
         "-r", f"{rate:g}", "-rp", "1000", "-m", str(count), "-l", str(count),
         "-trace_stat", "-stf", stat, "-fd", "1", "-trace_err", "-error_file", errors,
         "-nostdin", "-timeout", f"{int(args.step_seconds + hold_s)}s",
         "-max_recv_loops", "10000", "-max_sched_loops", "10000"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=args.step_seconds + hold_s + 60)
    elapsed = time.time() - started
    idle = cluster.wait_idle(hold_s)
    time.sleep(1.0)  # the record writer flushes in batches
    after = snapshot(cluster, agents_sipp, agents_stat)

    callers = sipp_stats(stat)
    offered = stat_int(callers, "OutgoingCall(C)") or stat_int(callers, "TotalCallCreated")
    completed = stat_int(callers, "SuccessfulCall(C)")
    failed = stat_int(callers, "FailedCall(C)")
    failures = {k[len("Failed"):-3]: stat_int(callers, k) for k in callers
                if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and stat_int(callers, k)}
    buckets, outcomes, per_node, events, waits = {}, {}, [], {}, []
    for i in range(cluster.nodes):
        b, a = before["nodes"][i], after["nodes"][i]
        for bound, value in a["buckets"].items():
            buckets[bound] = buckets.get(bound, 0) + value - b["buckets"].get(bound, 0)
        for k, v in diff_dict(a["outcomes"], b["outcomes"]).items():
            outcomes[k] = outcomes.get(k, 0) + v
        for k, v in diff_dict(a["events"], b["events"]).items():
            events[k] = events.get(k, 0) + v
        calls = diff_dict(a["calls"], b["calls"])
        records = [r for r in new_records(cluster, i, b["records_offset"]) if r.get("unit") == UNIT]
        waits += [r["queue_wait_ms"] / 1000 for r in records
                  if r.get("outcome") == "answered" and r.get("queue_wait_ms") is not None]
        per_node.append({"node": cluster.names[i], "calls": sum(calls.values()), "outcomes": calls,
                         "answered": diff_dict(a["outcomes"], b["outcomes"]).get("answered", 0)})
    kam = diff_dict(after["kamailio"], before["kamailio"])
    invites = {node: v for (kind, node), v in kam.items() if kind == "invites"}
    refused = {reason: v for (kind, reason), v in kam.items() if kind == "refused"}
    failovers = {node: v for (kind, node), v in kam.items() if kind == "failovers"}
    answered = outcomes.get("answered", 0)
    agents_done = stat_int(after["agents_stats"], "SuccessfulCall(C)") - stat_int(before["agents_stats"], "SuccessfulCall(C)")
    agents_failed = stat_int(after["agents_stats"], "FailedCall(C)") - stat_int(before["agents_stats"], "FailedCall(C)")
    success = min(answered, completed) / offered if offered else 0.0
    wall = after["time"] - before["time"]
    busy = (after["machine"][0] - before["machine"][0]) / max(1, after["machine"][1] - before["machine"][1])
    cpu = {k: after["cpu"][k] - before["cpu"].get(k, 0) for k in after["cpu"]}
    cpu["sipp callers"] = after["children_cpu"] - before["children_cpu"]
    cpu["sipp agents"] = after["agents_sipp_cpu"] - before["agents_sipp_cpu"]
    scripts = after["redis_scripts"][0] - before["redis_scripts"][0]
    script_us = after["redis_scripts"][1] - before["redis_scripts"][1]
    q = {p: quantile(buckets, p / 100) for p in (50, 90, 99)}

    def bucket_of(value):
        """The bucket (lower, upper] of the histogram that holds a quantile."""
        if value is None:
            return None
        lower = 0.0
        for bound in sorted(buckets):
            if value <= bound:
                return f"{lower:g}-{bound:g} s"
            lower = bound
        return f"above {lower:g} s"
    e = {p: exact_quantile(waits, p / 100) for p in (50, 90, 99)}
    row = {
        "rate": rate,
        "offered": offered,
        "answered": int(answered),
        "completed": completed,
        "failed": failed,
        "failure_reasons": failures,
        "success": success,
        "answered_per_second": answered / args.step_seconds,
        "callers_elapsed_s": elapsed,
        "ended_within_time": idle,
        "queue_outcomes": outcomes,
        "queue_events": events,
        "wait_histogram_s": {f"p{p}": q[p] for p in q},
        "wait_histogram_within": [bucket_of(q[50]), bucket_of(q[99])],
        "wait_histogram_buckets": {("+Inf" if k == float("inf") else k): v for k, v in sorted(buckets.items())},
        "wait_records_s": {f"p{p}": e[p] for p in e},
        "wait_records_max_s": max(waits) if waits else None,
        "waits_recorded": len(waits),
        "nodes": per_node,
        "kamailio_invites": invites,
        "kamailio_refused": refused,
        "kamailio_failovers": failovers,
        "agents_calls_completed": agents_done,
        "agents_calls_failed": agents_failed,
        "retransmissions": stat_int(callers, "Retransmissions(C)"),
        "redis_scripts": scripts,
        "redis_scripts_per_answered_call": scripts / answered if answered else None,
        "redis_us_per_script": script_us / scripts if scripts else None,
        "redis_script_busy": script_us / 1e6 / (after["time"] - before["time"]),
        "cpu_s": cpu,
        "wall_s": wall,
        "machine_busy": busy,
        "callers_error_file": errors,
    }
    return row


def fmt_s(v):
    return "-" if v is None else f"{v:.2f}"


def print_step(row):
    spread = " / ".join(f"{n['node']} {n['calls']:.0f}" for n in row["nodes"])
    print(f"  {row['rate']:>6g}/s: offered {row['offered']}, answered {row['answered']}, completed {row['completed']}, "
          f"failed {row['failed']}, success {100 * row['success']:.3f} %, {row['answered_per_second']:.2f} answered/s",
          flush=True)
    h, r = row["wait_histogram_s"], row["wait_records_s"]
    within = row["wait_histogram_within"]
    note = f" (p50 and p99 within the bucket {within[0]}: interpolated)" if within[0] == within[1] and within[0] else ""
    print(f"          queue wait p50/p90/p99: histogram {fmt_s(h['p50'])}/{fmt_s(h['p90'])}/{fmt_s(h['p99'])} s{note}, "
          f"records {fmt_s(r['p50'])}/{fmt_s(r['p90'])}/{fmt_s(r['p99'])} s (max {fmt_s(row['wait_records_max_s'])} s)",
          flush=True)
    cpu = row["cpu_s"]
    wall = max(row["wall_s"], 1e-9)
    parts = ", ".join(f"{k} {100 * v / wall:.0f} %" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v > 0)
    print(f"          nodes: {spread}; Kamailio INVITEs to nodes: "
          + (", ".join(f"{k.replace('sip:127.0.0.1:', ':')} {v:.0f}" for k, v in sorted(row['kamailio_invites'].items())) or "-"),
          flush=True)
    print(f"          CPU (of one core, over {wall:.0f} s): {parts}; machine busy {100 * row['machine_busy']:.0f} %",
          flush=True)
    if row["redis_scripts"]:
        print(f"          Redis: {row['redis_scripts']} ACD scripts"
              + (f" ({row['redis_scripts_per_answered_call']:.1f} per answered call)" if row["answered"] else "")
              + f", {row['redis_us_per_script']:.0f} µs each", flush=True)
    extra = []
    if row["failure_reasons"]:
        extra.append("caller failures " + ", ".join(f"{k} {v}" for k, v in row["failure_reasons"].items()))
    others = {k: v for k, v in row["queue_outcomes"].items() if k != "answered"}
    if others:
        extra.append("queue outcomes " + ", ".join(f"{k} {v:.0f}" for k, v in others.items()))
    for event in ("RINGNOANSWER", "RINGCANCELED", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
        if row["queue_events"].get(event):
            extra.append(f"{event} {row['queue_events'][event]:.0f}")
    if row["agents_calls_failed"]:
        extra.append(f"agent-side SIPp failures {row['agents_calls_failed']}")
    if row["kamailio_refused"]:
        extra.append("Kamailio refused " + ", ".join(f"{k} {v:.0f}" for k, v in row["kamailio_refused"].items()))
    if row["kamailio_failovers"]:
        extra.append("failovers " + ", ".join(f"{k} {v:.0f}" for k, v in row["kamailio_failovers"].items()))
    if row["retransmissions"]:
        extra.append(f"caller retransmissions {row['retransmissions']}")
    if not row["ended_within_time"]:
        extra.append("calls still up at the end of the step")
    if extra:
        print("          " + "; ".join(extra), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="5,10,20,40,60", type=lambda s: [float(x) for x in s.split(",")],
                        help="caller rates (calls/s), one step each (default 5,10,20,40,60)")
    parser.add_argument("--step-seconds", type=int, default=30, help="seconds of calls at each rate (default 30)")
    parser.add_argument("--agents", type=int, default=40, help="agents in the queue (default 40; raised to cover "
                        "the highest rate unless --fixed-agents)")
    parser.add_argument("--fixed-agents", action="store_true", help="keep --agents even if too few (callers will queue)")
    parser.add_argument("--ring-ms", type=int, default=500, help="how long an agent's phone rings before answering")
    parser.add_argument("--talk-ms", type=int, default=1000, help="how long an agent talks before hanging up")
    parser.add_argument("--ring-timeout", type=int, default=15, help="the queue's ring_timeout, seconds")
    parser.add_argument("--max-wait", type=int, default=60, help="the queue's max_wait, seconds")
    parser.add_argument("--nodes", type=int, default=2, help="nodes of the cluster it starts (default 2)")
    parser.add_argument("--cluster-dir", default="var/cluster-bench",
                        help="runtime folder of the cluster (default var/cluster-bench)")
    parser.add_argument("--database", default="cc_kamailio_bench",
                        help="Kamailio's database for the cluster it starts (default cc_kamailio_bench)")
    parser.add_argument("--agent-port", type=int, default=5098, help="UDP port of the SIPp answering for every agent")
    parser.add_argument("--reuse", action="store_true",
                        help="use the cluster already running in --cluster-dir (from an earlier --keep run)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    args.domain = os.environ.get("CC_SIP_DOMAIN", "cc.local")

    hold_ms = args.ring_ms + args.talk_ms + SIGNALLING_MS
    top = max(args.rates)
    erlangs = top * hold_ms / 1000
    needed = math.ceil(erlangs * 1.2) + 2
    if args.agents < needed:
        if args.fixed_agents:
            print(f"warning: {args.agents} agents carry about {args.agents * 1000 / hold_ms:.1f} calls/s at "
                  f"{hold_ms} ms per call; {top:g}/s needs {needed}: callers will queue, and wait", flush=True)
        else:
            print(f"{args.agents} agents carry about {args.agents * 1000 / hold_ms:.1f} calls/s at {hold_ms} ms per call "
                  f"(ring {args.ring_ms} + talk {args.talk_ms} + ~{SIGNALLING_MS} signalling); "
                  f"{top:g}/s needs {needed}: using {needed} agents (--fixed-agents keeps {args.agents})", flush=True)
            args.agents = needed
    if args.max_wait + args.ring_timeout + args.talk_ms / 1000 > 110:
        print("warning: the callers wait at most 120 s for the end of their call "
              "(caller_node_hangs_up.xml); keep --max-wait + --ring-timeout + talk under 110 s", flush=True)

    if os.environ.get("CC_SKIP_BUILD", "0") != "1":
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "cc-node"], cwd=ROOT, check=True)

    folder = os.path.abspath(os.path.join(ROOT, args.cluster_dir))
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ)
    env.update({"CC_CLUSTER_DIR": folder, "CC_SKIP_BUILD": "1"})
    started_here = False
    if not args.reuse:
        cluster_script(args, "stop", env)
        # A fresh ACD: agents of an earlier run's (bigger) unit would stay in Redis.
        shutil.rmtree(os.path.join(folder, "redis"), ignore_errors=True)
        units = os.path.join(folder, "units")
        os.makedirs(os.path.join(units, "prompts", UNIT), exist_ok=True)
        for leftover in os.listdir(units):
            if leftover.endswith(".yaml"):
                os.remove(os.path.join(units, leftover))
        text, ids = unit_yaml(args.agents, args)
        with open(os.path.join(units, f"{UNIT}.yaml"), "w") as f:
            f.write(text)
        write_prompt(os.path.join(units, "prompts", UNIT, "moh.wav"), 10.0, 2)
        env.update({
            "CC_UNITS": units,
            "CC_NODES": str(args.nodes),
            "CC_DB": args.database,
            "CC_PIKE_DENSITY": "100000",
            "CC_KAMAILIO_LOG_LEVEL": env.get("CC_KAMAILIO_LOG_LEVEL", "1"),
            "CC__LOG__LEVEL": env.get("CC__LOG__LEVEL", "warn"),
            # SIPp's callers send no RTP: a node ends a caller as dead only well after
            # the longest call of the test (a call whose BYE was lost is cleared then).
            "CC__MEDIA__RTP_TIMEOUT_S": str(args.max_wait + args.ring_timeout + args.talk_ms // 1000 + 60),
        })
        print(f"starting the cluster (scripts/cluster.sh start, runtime files in {folder}) ...", flush=True)
        t0 = time.time()
        rc, out = cluster_script(args, "start", env)
        with open(os.path.join(folder, "cluster-start.out"), "w") as f:
            f.write(out)
        if rc != 0:
            print(out)
            raise SystemExit("the cluster did not start (see above)")
        started_here = True
        print(f"  up in {time.time() - t0:.1f} s", flush=True)
    cluster = Cluster(folder)
    if args.reuse:
        status, _ = http("GET", f"http://127.0.0.1:{cluster.node_http[0]}/units/{UNIT}/agents")
        if status != 200:
            raise SystemExit(f"--reuse: the cluster in {folder} does not serve unit {UNIT} "
                             f"(start it with: python3 loadtest/cluster_bench.py --keep ...)")
        listing = subprocess.run([os.path.join(ROOT, "target/release/cc-node"), "agents", cluster.env["CC_UNITS"]],
                                 capture_output=True, text=True, check=True).stdout
        ids = sorted(line.split("\t")[1] for line in listing.splitlines() if line.startswith(UNIT + "\t"))
        args.agents = len(ids)
        rc, out = cluster_script(args, "seed", env)
        if rc != 0:
            print(out)
            raise SystemExit("cannot seed the agents' accounts")

    workdir = os.path.join(folder, "bench")
    os.makedirs(workdir, exist_ok=True)
    creds = cluster.credentials()
    missing = [a for a in ids if a not in creds]
    if missing:
        raise SystemExit(f"no SIP account for {len(missing)} agent(s), e.g. {missing[0]}")
    in_db = int(cluster.psql(
        f"SELECT count(*) FROM subscriber WHERE domain = '{cluster.domain}' AND username IN "
        f"(SELECT unnest(string_to_array('{','.join(ids)}', ',')))").strip())
    if in_db < len(ids):
        raise SystemExit(f"only {in_db} of the {len(ids)} agents have an account in Kamailio's database")
    print(f"{len(ids)} agents with their accounts in Kamailio's database; ring {args.ring_ms} ms, talk {args.talk_ms} ms, "
          f"capacity about {len(ids) * 1000 / hold_ms:.1f} calls/s", flush=True)
    # Registrations of earlier runs (another Contact port) would fork every offer.
    cluster.psql("DELETE FROM location WHERE username LIKE 'agent%'")

    report = {
        "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release, "loadavg_at_start": os.getloadavg()},
        "settings": {"nodes": cluster.nodes, "agents": len(ids), "ring_ms": args.ring_ms, "talk_ms": args.talk_ms,
                     "ring_timeout_s": args.ring_timeout, "max_wait_s": args.max_wait,
                     "step_seconds": args.step_seconds, "rates": args.rates, "number": NUMBER,
                     "kamailio": f"127.0.0.1:{cluster.kam_sip}", "trunk": f"127.0.0.1:{cluster.trunk}"},
        "steps": [],
    }
    drain = Drain(2)  # 0: the callers' RTP (prompts, music on hold), 1: the agents'
    agents_stat = os.path.join(workdir, "agents.csv.stat")
    if os.path.exists(agents_stat):
        os.remove(agents_stat)
    agents_sipp = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SCENARIOS, "agent_rings_answers_hangs_up.xml"), "-i", "127.0.0.1",
         "-p", str(args.agent_port), "-mp", str(free_port()), "-key", "rtp_ip", "127.0.0.1",
         "-key", "rtp_port", str(drain.port(1)), "-key", "ring_ms", str(args.ring_ms), "-d", str(args.talk_ms),
         "-trace_stat", "-stf", agents_stat, "-fd", "1", "-trace_err",
         "-error_file", os.path.join(workdir, "agents-errors.log"), "-nostdin",
         "-max_recv_loops", "10000", "-max_sched_loops", "10000"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    best = None
    try:
        time.sleep(0.5)
        if agents_sipp.poll() is not None:
            raise SystemExit(f"the agents' SIPp stopped at once: is UDP port {args.agent_port} free? (--agent-port)")
        ok, failed, errors = register_agents(args, cluster, ids, creds, workdir)
        registered = int(cluster.psql("SELECT count(DISTINCT username) FROM location WHERE username LIKE 'agent%'").strip())
        print(f"registered through Kamailio: {ok} of {len(ids)} ({failed} failed); {registered} in the location table",
              flush=True)
        if ok < len(ids) or registered < len(ids):
            raise SystemExit(f"not every agent registered; see {errors} and {folder}/kamailio.log")
        refused = 0
        for n, agent in enumerate(ids):
            status, body = cluster.post(n % cluster.nodes, f"/units/{UNIT}/agents/{agent}/login")
            if status != 200:
                refused += 1
                print(f"  login of {agent}: {status} {body.strip()[:200]}")
        if refused:
            raise SystemExit(f"{refused} agent(s) could not log in")
        print(f"logged in: {len(ids)} agents (over {cluster.nodes} nodes' HTTP)", flush=True)
        time.sleep(1.0)
        print(f"calls from the trunk (127.0.0.1:{cluster.trunk}) to {NUMBER} via Kamailio 127.0.0.1:{cluster.kam_sip}, "
              f"{args.step_seconds} s per rate:", flush=True)
        misses = 0
        for index, rate in enumerate(args.rates):
            if not cluster.wait_idle(120):
                print("  calls of the previous step are still up; going on", flush=True)
            row = run_step(args, cluster, rate, workdir, drain, agents_sipp, agents_stat, index)
            report["steps"].append(row)
            print_step(row)
            if row["success"] >= 0.999:
                best = row
                misses = 0
            else:
                misses += 1
                if misses >= 2:
                    print("  two rates in a row below 99.9 %: the ramp ends", flush=True)
                    break
    finally:
        agents_sipp.terminate()
        try:
            agents_sipp.wait(10)
        except subprocess.TimeoutExpired:
            agents_sipp.kill()
        drain_packets = list(drain.packets)
        drain.stop()
        report["rtp_packets_received"] = {"callers": drain_packets[0], "agents": drain_packets[1]}
        if started_here and not args.keep:
            cluster_script(args, "stop", env)
        elif args.keep or args.reuse:
            print(f"the cluster keeps running: CC_CLUSTER_DIR={os.path.relpath(folder, ROOT)} scripts/cluster.sh stop")

    report["best"] = best
    print()
    print("| rate (calls/s) | offered | answered | failed | success | answered/s | wait p50 | p90 | p99 (histogram) "
          "| wait p50 | p90 | p99 (records) | calls per node |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in report["steps"]:
        h, e = r["wait_histogram_s"], r["wait_records_s"]
        print(f"| {r['rate']:g} | {r['offered']} | {r['answered']} | {r['failed']} | {100 * r['success']:.3f} % "
              f"| {r['answered_per_second']:.2f} | {fmt_s(h['p50'])} s | {fmt_s(h['p90'])} s | {fmt_s(h['p99'])} s "
              f"| {fmt_s(e['p50'])} s | {fmt_s(e['p90'])} s | {fmt_s(e['p99'])} s "
              f"| {' / '.join(str(round(n['calls'])) for n in r['nodes'])} |")
    if best:
        print(f"\n=> highest rate with >= 99.9 % of calls answered by an agent and completed: {best['rate']:g} calls/s "
              f"({best['answered_per_second']:.2f} answered/s, {report['settings']['agents']} agents, "
              f"ring {args.ring_ms} ms, talk {args.talk_ms} ms)")
    else:
        print("\n=> no rate reached 99.9 %")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
    print(f"(work files in {workdir}; logs in {folder})")


if __name__ == "__main__":
    main()
