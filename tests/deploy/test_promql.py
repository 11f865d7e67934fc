"""Every PromQL expression of the dashboards, the rules and the chart's KEDA queries parses
(Prometheus' grammar via promql-parser), uses only metrics tandem exports (or ones listed in
observability/MISSING_METRICS.md), filters on the dashboard variables and guards its ratios."""
import glob
import os

import promql_parser
import pytest
import yaml

import observability as obs
from manifests import CHART

DASHBOARD_QUERIES = [(os.path.basename(path), title, expr)
                     for path in obs.DASHBOARDS for title, expr in obs.panel_queries(obs.load_dashboard(path))]
VARIABLE_QUERIES = [(os.path.basename(path), name, sel)
                    for path in obs.DASHBOARDS for name, sel in obs.variable_queries(obs.load_dashboard(path))]
RULE_EXPRS = [(r.get("record") or r.get("alert"), r["expr"]) for r in obs.rule_entries()]


def keda_queries():
    """KEDA ScaledObject queries in the chart's values and CI value sets."""
    out = []
    for path in [os.path.join(CHART, "values.yaml")] + sorted(glob.glob(os.path.join(CHART, "ci", "*.yaml"))):
        with open(path) as f:
            values = yaml.safe_load(f) or {}
        for role, r in (values.get("roles") or {}).items():
            query = ((r or {}).get("keda") or {}).get("query")
            if query:
                out.append((f"{os.path.basename(path)}:{role}", query))
    return out


def all_expressions():
    return ([(f"{d}: {t}", e) for d, t, e in DASHBOARD_QUERIES] + [(f"{d}: ${n}", s) for d, n, s in VARIABLE_QUERIES]
            + RULE_EXPRS + keda_queries())


def test_there_is_something_to_check():
    assert len(DASHBOARD_QUERIES) > 40 and len(RULE_EXPRS) >= 10 and keda_queries()


@pytest.mark.parametrize("where,expr", all_expressions(), ids=[w for w, _ in all_expressions()])
def test_parses(where, expr):
    try:
        promql_parser.parse(obs.substitute(expr))
    except ValueError as e:
        pytest.fail(f"{where}: {e}\n{expr}")


def test_parser_rejects_what_prometheus_rejects():
    """The check is real: malformed and semantically invalid expressions fail."""
    for bad in ("sum(rate(x[5m])", "scalar(sum(x)) > 0", "rate(x)", "x{job=}"):
        with pytest.raises(ValueError):
            promql_parser.parse(bad)


def test_only_exported_or_listed_metrics():
    exported = obs.exported_metrics()
    allowed = exported | obs.missing_metrics() | obs.recorded_names() | {"up"}
    unknown = set()
    for where, expr in all_expressions():
        for s in obs.selectors(obs.substitute(expr)):
            if s.name not in allowed:
                unknown.add((where, s.name))
    assert not unknown, "metrics tandem does not export (add them to MISSING_METRICS.md?): %s" % sorted(unknown)


def test_missing_list_is_current():
    now_exported = obs.missing_metrics() & obs.exported_metrics()
    assert not now_exported, f"tandem exports these now: remove them from observability/MISSING_METRICS.md: {now_exported}"
    used = {s.name for _, e in all_expressions() for s in obs.selectors(obs.substitute(e))}
    assert obs.missing_metrics() <= used, "MISSING_METRICS.md lists metrics no query uses"


@pytest.mark.parametrize("dashboard,title,expr", DASHBOARD_QUERIES, ids=[f"{d}: {t}" for d, t, _ in DASHBOARD_QUERIES])
def test_dashboard_selectors_use_the_variables(dashboard, title, expr):
    marked = obs.substitute(expr, {v: f"VAR_{v}" for v in obs.VARIABLES})
    strategy_metrics = _metrics_with_strategy_label()
    for s in obs.selectors(marked):
        matchers = {(m.name, str(m.op), m.value) for m in s.matchers.matchers}
        names = {m[0]: m for m in matchers}
        assert names.get("job", (None, None, None))[2] == "tandem", (title, s.name)
        for var in ("model", "instance"):
            assert names.get(var, (None, None, None))[2] == f"VAR_{var}", (title, s.name, var)
        if s.name in strategy_metrics:
            assert names.get("strategy", (None, None, None))[2] == "VAR_strategy", (title, s.name)


def _metrics_with_strategy_label():
    """Series whose family tandem labels by strategy (services/common/metrics.h lists them)."""
    base = {"tandem:request_success_total", "tandem:request_failure_total", "tandem:prompt_tokens_total",
            "tandem:generation_tokens_total", "tandem:time_to_first_token_seconds", "tandem:inter_token_latency_seconds",
            "tandem:e2e_request_latency_seconds", "tandem:spec_decode_num_drafts_total",
            "tandem:spec_decode_num_draft_tokens_total", "tandem:spec_decode_num_accepted_tokens_total",
            "tandem:spec_decode_num_accepted_tokens_per_pos_total", "tandem:draft_calls_total",
            "tandem:target_calls_total", "tandem:draft_time_seconds_total", "tandem:target_time_seconds_total",
            "tandem:retrieval_latency_seconds", "tandem:retrieved_tokens", "tandem:reward_calls_total",
            "tandem:reward_items_total", "tandem:reward_time_seconds_total", "tandem:final_reward",
            "tandem:estimated_flops_total"}
    return base | {b + s for b in base for s in ("_bucket", "_sum", "_count")}


@pytest.mark.parametrize("where,expr", [(f"{d}: {t}", e) for d, t, e in DASHBOARD_QUERIES] + RULE_EXPRS)
def test_ratios_are_guarded(where, expr):
    """A divisor must be `(... > 0)` (or a constant): rate ratios over an idle window would
    otherwise be NaN or +Inf."""
    for _, rhs in obs.divisions(obs.substitute(expr)):
        node = rhs
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if isinstance(node, promql_parser.NumberLiteral):
            continue
        ok = (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == ">"
              and isinstance(node.rhs, promql_parser.NumberLiteral) and node.rhs.val == 0)
        assert ok, f"{where}: unguarded divisor {rhs.prettify()}"
