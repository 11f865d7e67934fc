"""Reads observability/: dashboard panel queries, variable queries, rule expressions, the list
of metrics still missing from tandem, and the metric names tandem's C++ code registers."""
import glob
import json
import os
import re

import promql_parser
import yaml

from manifests import ROOT

OBS = os.path.join(ROOT, "observability")
DASHBOARDS = sorted(glob.glob(os.path.join(OBS, "grafana", "dashboards", "*.json")))
RULE_FILES = sorted(glob.glob(os.path.join(OBS, "prometheus", "rules", "*.yaml")))
VARIABLES = ("model", "instance", "strategy")


def load_dashboard(path):
    with open(path) as f:
        return json.load(f)


def panel_queries(dashboard):
    """[(panel title, expr)] of every panel target."""
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def variable_queries(dashboard):
    """The selector inside each `label_values(SELECTOR, label)` variable query."""
    out = []
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["query"]["query"])
            assert m, f"variable {v['name']}: expected label_values(selector, label), got {v['query']}"
            out.append((v["name"], m.group(1)))
    return out


def substitute(expr, values=None, rate_interval="5m"):
    """Replaces Grafana variables: $model/$instance/$strategy with `values` (default '.*'),
    $__rate_interval with `rate_interval`."""
    values = values or {}
    expr = expr.replace("$__rate_interval", rate_interval)
    for name in VARIABLES:
        expr = expr.replace("$" + name, values.get(name, ".*"))
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def rule_entries():
    """Every rule of the rule files: dicts with record/alert, expr, labels, annotations."""
    rules = []
    for path in RULE_FILES:
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                rules.extend(group["rules"])
    return rules


def recorded_names():
    return {r["record"] for r in rule_entries() if "record" in r}


def selectors(expr):
    """Every VectorSelector of a parsed expression."""
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def divisions(expr):
    """(lhs, rhs) of every `/` in a parsed expression."""
    found = []

    def visit(node):
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "/":
            found.append((node.lhs, node.rhs))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def missing_metrics():
    """The backticked metric names in the first column of observability/MISSING_METRICS.md."""
    with open(os.path.join(OBS, "MISSING_METRICS.md")) as f:
        return set(re.findall(r"^\| `(tandem:[a-z0-9_:]+)` \|", f.read(), flags=re.M))


def exported_metrics():
    """Metric names registered by tandem's C++ code: "tandem:..." string literals passed to
    prometheus-cpp builders (BuildCounter/Gauge/Histogram ... .Name("...") or the counter()/
    histogram() helpers of services/common/metrics.cc), with their series suffixes."""
    names = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d not in ("tests", "bench", "third_party")]
        for f in files:
            if not f.endswith((".cc", ".h")):
                continue
            with open(os.path.join(folder, f), errors="replace") as src:
                text = src.read()
            for m in re.finditer(r'(Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\(|\b(counter|histogram)\()\s*"(tandem:[a-z0-9_:]+)"', text):
                kind = (m.group(2) or m.group(3)).lower()
                names[m.group(4)] = kind
    series = set()
    for name, kind in names.items():
        series.add(name)
        if kind == "histogram":
            series.update({name + "_bucket", name + "_sum", name + "_count"})
    return series
