#!/usr/bin/env python3
"""Checks the Grafana dashboards in grafana/dashboards/ against a real Prometheus.

    python3 grafana/check_dashboards.py [PROMETHEUS_URL] [--var NAME=VALUE ...] [--dashboards DIR] [-v]

PROMETHEUS_URL defaults to http://127.0.0.1:9090 (the local cluster of
scripts/cluster.sh). For every dashboard file (*.json) it checks:

- the file parses as JSON; schemaVersion 39; a uid unique among the files; a
  datasource template variable;
- every panel: a unique id (rows and panels inside collapsed rows included), a
  gridPos inside the 24-column grid that overlaps no other panel; every panel
  but a row: a type among timeseries, stat, gauge, table, the datasource
  {type: prometheus, uid: ${datasource}}, at least one target, each target
  with an expression and a refId unique in the panel;
- every template variable an expression uses is defined (or is one of
  Grafana's $__ variables);
- EVERY PromQL expression, once its variables are replaced, is accepted by
  Prometheus (POST /api/v1/query answers status "success"); so are the
  variables' own queries (label_values(...), query_result(...)).

Variables are replaced this way: a query or custom variable by its "All"
value (`.*`) unless --var NAME=VALUE gives a concrete value; a textbox or
constant by its current value; $__rate_interval and $__interval by 1m,
$__range by 1h (--range), $__range_s / $__range_ms / $__interval_ms to match.

Expressions that return no series are reported but are not failures: many
series appear only at their first event (failovers, refusals, store errors).
Exit status: 0 when everything passed, 1 on any failure, 2 on bad usage or
when Prometheus cannot be reached. Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

PANEL_TYPES = {"timeseries", "stat", "gauge", "table"}
DS_UID = "${datasource}"
# $name, ${name}, ${name:format}, [[name]] (Grafana's variable syntaxes).
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*$", re.S)
QUERY_RESULT_RE = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)


def duration_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text} (e.g. 1h, 30m)")
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return text, int(int(m.group(1)) * factor)


class Prometheus:
    def __init__(self, url, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, expr):
        """(ok, detail, series count)."""
        data = urllib.parse.urlencode({"query": expr}).encode()
        req = urllib.request.Request(self.url + "/api/v1/query", data=data,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:  # 400/422: Prometheus says why in JSON
            body = e.read()
        except (urllib.error.URLError, OSError) as e:
            return False, f"cannot reach {self.url}: {getattr(e, 'reason', e)}", 0
        try:
            answer = json.loads(body)
        except ValueError:
            return False, f"not a Prometheus answer: {body[:200]!r}", 0
        if answer.get("status") != "success":
            return False, f"{answer.get('errorType', '?')}: {answer.get('error', '?')}", 0
        result = answer.get("data", {}).get("result", [])
        count = len(result) if isinstance(result, list) else 1
        warnings = answer.get("warnings") or []
        return True, "; ".join(warnings), count

    def label_values(self, label):
        url = f"{self.url}/api/v1/label/{urllib.parse.quote(label)}/values"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                answer = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            return False, f"{url}: {getattr(e, 'reason', e)}", 0
        if answer.get("status") != "success":
            return False, answer.get("error", "?"), 0
        return True, "", len(answer.get("data", []))


def all_panels(panels):
    """Every panel, rows' inner panels (collapsed rows) included."""
    for p in panels:
        yield p
        yield from all_panels(p.get("panels") or [])


def variable_values(dashboard, overrides, range_s, range_text):
    """name -> replacement text; the set of variable names defined."""
    values = {
        "__rate_interval": "1m", "__interval": "1m", "__interval_ms": "60000",
        "__range": range_text, "__range_s": str(range_s), "__range_ms": str(range_s * 1000),
    }
    defined = set(values)
    for var in dashboard.get("templating", {}).get("list", []):
        name = var.get("name")
        if not name:
            continue
        defined.add(name)
        kind = var.get("type")
        if kind in ("query", "custom"):
            values[name] = var.get("allValue") or ".*"
        elif kind in ("textbox", "constant"):
            current = var.get("current", {}).get("value")
            values[name] = str(current if current not in (None, "") else var.get("query", ""))
        elif kind == "interval":
            values[name] = "1m"
        elif kind == "datasource":
            values[name] = "prometheus"
        else:
            values[name] = ".*"
    for name, value in overrides.items():
        values[name] = value
    return values, defined


def substitute(expr, values, defined):
    """(text, unknown variable names)."""
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name.isdigit():  # ${1} in label_replace: not a variable, Grafana leaves it
            return m.group(0)
        if name not in defined or name not in values:
            unknown.append(name)
            return m.group(0)
        return values[name]

    return VAR_RE.sub(repl, expr), unknown


def overlaps(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_structure(path, dashboard, failures):
    name = os.path.basename(path)

    def fail(msg):
        failures.append(f"{name}: {msg}")

    if dashboard.get("schemaVersion") != 39:
        fail(f"schemaVersion is {dashboard.get('schemaVersion')!r}, expected 39")
    if not dashboard.get("uid"):
        fail("no uid")
    if not dashboard.get("title"):
        fail("no title")
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("type") == "datasource" and v.get("name") == "datasource"
               and v.get("query") == "prometheus" for v in variables):
        fail("no template variable 'datasource' of type datasource (query prometheus)")
    for v in variables:
        if v.get("type") == "query":
            ds = v.get("datasource") or {}
            if ds.get("uid") != DS_UID:
                fail(f"variable {v.get('name')}: datasource uid is {ds.get('uid')!r}, expected {DS_UID}")

    ids = {}
    grid = []
    for p in all_panels(dashboard.get("panels", [])):
        label = f"panel {p.get('id')!r} {p.get('title', '')!r}"
        pid = p.get("id")
        if not isinstance(pid, int):
            fail(f"{label}: no integer id")
        elif pid in ids:
            fail(f"{label}: id {pid} also used by {ids[pid]!r}")
        else:
            ids[pid] = p.get("title", "")
        gp = p.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")):
            fail(f"{label}: gridPos needs integer h, w, x, y")
        elif gp["w"] < 1 or gp["h"] < 1 or gp["x"] < 0 or gp["y"] < 0 or gp["x"] + gp["w"] > 24:
            fail(f"{label}: gridPos {gp} is outside the 24-column grid")
        else:
            for other_label, other in grid:
                if overlaps(gp, other):
                    fail(f"{label}: gridPos {gp} overlaps {other_label}")
            grid.append((label, gp))
        if p.get("type") == "row":
            continue
        if p.get("type") not in PANEL_TYPES:
            fail(f"{label}: type {p.get('type')!r} is not one of {sorted(PANEL_TYPES)}")
        ds = p.get("datasource")
        if not isinstance(ds, dict) or ds.get("type") != "prometheus" or ds.get("uid") != DS_UID:
            fail(f"{label}: datasource is {ds!r}, expected {{type: prometheus, uid: {DS_UID}}}")
        targets = p.get("targets") or []
        if not targets:
            fail(f"{label}: no target")
        refs = set()
        for t in targets:
            if not (t.get("expr") or "").strip():
                fail(f"{label}: target {t.get('refId')!r} has no expression")
            ref = t.get("refId")
            if not ref or ref in refs:
                fail(f"{label}: target refId {ref!r} missing or repeated")
            refs.add(ref)
            tds = t.get("datasource")
            if tds is not None and (not isinstance(tds, dict) or tds.get("uid") != DS_UID):
                fail(f"{label}: target {ref!r} datasource is {tds!r}, expected uid {DS_UID}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prometheus", nargs="?", default="http://127.0.0.1:9090",
                        help="Prometheus base URL (default http://127.0.0.1:9090)")
    parser.add_argument("--dashboards", default=os.path.join(here, "dashboards"),
                        help="folder of dashboard JSON files (default: dashboards/ beside this script)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a concrete value for a template variable (repeatable), e.g. --var unit=demo")
    parser.add_argument("--range", type=duration_seconds, default=duration_seconds("1h"),
                        help="what $__range stands for (default 1h)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per request (default 10)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every expression as sent")
    args = parser.parse_args()

    overrides = {}
    for item in args.var:
        if "=" not in item:
            parser.error(f"--var {item}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v
    range_text, range_s = args.range

    prom = Prometheus(args.prometheus, args.timeout)
    ok, detail, _ = prom.query("vector(1)")
    if not ok:
        print(f"Prometheus at {args.prometheus} does not answer queries: {detail}", file=sys.stderr)
        return 2

    files = sorted(glob.glob(os.path.join(args.dashboards, "*.json")))
    if not files:
        print(f"no dashboard (*.json) in {args.dashboards}", file=sys.stderr)
        return 2

    failures = []
    uids = {}
    queried = 0
    empty = []
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                dashboard = json.load(f)
        except (OSError, ValueError) as e:
            failures.append(f"{name}: does not parse as JSON: {e}")
            continue
        check_structure(path, dashboard, failures)
        uid = dashboard.get("uid")
        if uid in uids:
            failures.append(f"{name}: uid {uid!r} also used by {uids[uid]}")
        uids[uid] = name
        values, defined = variable_values(dashboard, overrides, range_s, range_text)
        unused = set(overrides) - defined
        if unused:
            print(f"{name}: note: --var {', '.join(sorted(unused))} not used by this dashboard")

        # The variables' own queries.
        for var in dashboard.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            q = var.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            text, unknown = substitute(q, values, defined)
            where = f"{name}: variable {var.get('name')}"
            if unknown:
                failures.append(f"{where}: unknown variable(s) {', '.join(sorted(set(unknown)))} in {q}")
                continue
            m = LABEL_VALUES_RE.match(text)
            qr = QUERY_RESULT_RE.match(text)
            if m and m.group(1):
                expr = f"group by ({m.group(2)}) ({m.group(1)})"
                ok, detail, count = prom.query(expr)
            elif m:
                expr = f"label {m.group(2)}"
                ok, detail, count = prom.label_values(m.group(2))
            elif qr:
                expr = qr.group(1)
                ok, detail, count = prom.query(expr)
            else:
                expr = text
                ok, detail, count = prom.query(expr)
            queried += 1
            if args.verbose:
                print(f"  {where}: {expr} -> {'ok' if ok else 'FAIL'} ({count} values)")
            if not ok:
                failures.append(f"{where}: {q!r} -> {expr!r}: {detail}")
            elif count == 0:
                empty.append(f"{where}: {expr}")

        for p in all_panels(dashboard.get("panels", [])):
            if p.get("type") == "row":
                continue
            for t in p.get("targets") or []:
                expr = t.get("expr") or ""
                if not expr.strip():
                    continue
                where = f"{name}: panel {p.get('id')} {p.get('title', '')!r} target {t.get('refId')}"
                text, unknown = substitute(expr, values, defined)
                if unknown:
                    failures.append(f"{where}: unknown variable(s) {', '.join(sorted(set(unknown)))}")
                    continue
                ok, detail, count = prom.query(text)
                queried += 1
                if args.verbose:
                    print(f"  {where}: {'ok' if ok else 'FAIL'} ({count} series) {text}")
                if not ok:
                    failures.append(f"{where}: {detail}\n    {text}")
                elif count == 0:
                    empty.append(f"{where}: {text}")
                if ok and detail:
                    print(f"{where}: Prometheus warns: {detail}")

    print(f"{len(files)} dashboard(s), {queried} expression(s) sent to {args.prometheus}: "
          f"{len(failures)} failure(s), {len(empty)} with no series now")
    if empty:
        print("No series now (accepted; the data may not exist yet):")
        for e in empty:
            print(f"  {e}")
    if failures:
        print("FAILURES:")
        for f in failures:
            print(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
