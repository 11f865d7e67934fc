#!/usr/bin/env python3
"""Writes tandem's Grafana dashboards (dashboards/*.json) from the panel lists below.

The JSON files are committed so Grafana provisioning and ConfigMaps use them as they are; this
script is their source (tests/deploy/test_observability.py fails when they differ from its output).
Run it after editing a panel:  python3 observability/grafana/build_dashboards.py [--out DIR]

Conventions every query follows (the tests check them):
  - every selector carries job="tandem" and the dashboard variables: model=~"$model",
    instance=~"$instance", and strategy=~"$strategy" where the metric has a strategy label;
    `model` and `role` are scrape-time target labels (Helm ServiceMonitor relabelings, or the
    static labels of a plain scrape config), not labels tandem exports;
  - a ratio divides by `(denominator > 0)`, so an idle window shows "No data", never NaN/Inf
    (acceptance by position divides by one label-less series: `/ on() group_left() (... > 0)`);
  - rates use $__rate_interval.
"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")

# Selector bodies. S: a metric with a strategy label; N: one without.
S = 'job="tandem", model=~"$model", instance=~"$instance", strategy=~"$strategy"'
N = 'job="tandem", model=~"$model", instance=~"$instance"'
RI = "$__rate_interval"


def rate(metric, sel, extra=""):
    body = sel + (", " + extra if extra else "")
    return f"rate({metric}{{{body}}}[{RI}])"


def quantiles(metric, sel, by="", qs=(0.5, 0.9, 0.99)):
    """One target per quantile of a histogram."""
    group = f"{by}, le" if by else "le"
    prefix = "{{" + by + "}} " if by else ""
    return [(f"histogram_quantile({q}, sum by ({group}) ({rate(metric + '_bucket', sel)}))",
             f"{prefix}p{int(q * 100)}") for q in qs]


def ratio(num, den):
    return f"({num}) / (({den}) > 0)"


def panel(title, targets, unit="short", kind="timeseries", description="", stack=False, w=12, h=8,
          extra_options=None):
    p = {"type": kind, "title": title, "description": description,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                      "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                     for i, (expr, legend) in enumerate(targets)],
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "gridPos": {"w": w, "h": h}}
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal" if stack else "none"}}
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                        "tooltip": {"mode": "multi"}}
    if kind == "heatmap":
        for t in p["targets"]:
            t["format"] = "heatmap"
        p["options"] = {"calculate": False, "yAxis": {"unit": unit}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}
    if extra_options:
        p["options"].update(extra_options)
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def variables(with_strategy=True):
    def query_var(name, label, query):
        return {"name": name, "label": label, "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": query, "refId": name}, "definition": query,
                "includeAll": True, "multi": True, "allValue": ".*",
                "current": {"text": "All", "value": "$__all"}, "refresh": 2, "sort": 1}
    v = [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
          "current": {}, "hide": 0},
         query_var("model", "model", 'label_values(up{job="tandem"}, model)'),
         query_var("instance", "instance", 'label_values(up{job="tandem", model=~"$model"}, instance)')]
    if with_strategy:
        v.append(query_var("strategy", "strategy",
                           'label_values(tandem:request_success_total{job="tandem", model=~"$model"}, strategy)'))
    return v


def layout(panels):
    """Assigns gridPos x/y: panels flow left to right, a row starts a new line."""
    x = y = line_h = 0
    for p in panels:
        g = p["gridPos"]
        if p["type"] == "row" or x + g["w"] > 24:
            y += line_h
            x = line_h = 0
        g["x"], g["y"] = x, y
        x += g["w"]
        line_h = max(line_h, g["h"])
        if p["type"] == "row":
            y += g["h"]
            x = line_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return panels


def dashboard(uid, title, description, panels, tags):
    return {"uid": uid, "title": title, "description": description, "tags": ["tandem"] + tags,
            "editable": True, "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"}, "timezone": "",
            "graphTooltip": 1, "templating": {"list": variables()},
            "annotations": {"list": []}, "links": [], "panels": layout(panels)}


def overview():
    ok = rate("tandem:request_success_total", S)
    fail = rate("tandem:request_failure_total", S)
    return dashboard("tandem-overview", "tandem / Overview",
                     "Traffic, latency, errors, sessions and memory of a tandem deployment.", [
        row("Traffic"),
        panel("Services up", [(f'sum by (role) (up{{{N}}})', "{{role}}")], kind="stat", w=6,
              description="Scrape targets answering, by role (from the `role` target label)."),
        panel("Request rate", [(f"sum by (strategy) ({ok})", "{{strategy}}")], unit="reqps", w=9,
              description="Requests that completed their stream (tandem:request_success_total)."),
        panel("Finish reasons", [(f"sum by (finished_reason) ({ok})", "{{finished_reason}}")],
              unit="reqps", w=9, stack=True),
        panel("Generated tokens/s", [(f"sum by (strategy) ({rate('tandem:generation_tokens_total', S)})",
                                      "{{strategy}}")], unit="short",
              description="Completion tokens per second of finished requests."),
        panel("Prompt tokens/s", [(f"sum by (strategy) ({rate('tandem:prompt_tokens_total', S)})",
                                   "{{strategy}}")], unit="short"),
        row("Latency"),
        panel("Time to first token", quantiles("tandem:time_to_first_token_seconds", S), unit="s", w=8),
        panel("Inter-token latency", quantiles("tandem:inter_token_latency_seconds", S), unit="s", w=8),
        panel("End-to-end request latency", quantiles("tandem:e2e_request_latency_seconds", S), unit="s", w=8),
        panel("Draft RPC latency (orchestrator)", quantiles("tandem:draft_rpc_latency_seconds", N, by="drafter"),
              unit="s", w=8),
        panel("Target verify latency (orchestrator)", quantiles("tandem:target_verify_latency_seconds", N),
              unit="s", w=8),
        panel("Reward and retrieval service latency (p90)", [
            (f"histogram_quantile(0.9, sum by (method, le) ({rate('tandem:reward_service_latency_seconds_bucket', N)}))",
             "reward {{method}}"),
            (f"histogram_quantile(0.9, sum by (source, le) ({rate('tandem:retrieval_search_latency_seconds_bucket', N)}))",
             "retrieval {{source}}")], unit="s", w=8),
        row("Errors"),
        panel("Failed requests by code", [(f"sum by (code) ({fail})", "{{code}}")], unit="reqps", stack=True),
        panel("Error ratio", [(ratio(f"sum({fail}) or vector(0)", f"sum({ok}) + (sum({fail}) or vector(0))"),
                               "failed / all")], unit="percentunit",
              description="Failed / (completed + failed) requests; no data while idle."),
        row("Capacity"),
        panel("Active sessions", [(f"sum by (role, instance) (tandem:active_sessions{{{N}}})",
                                   "{{role}} {{instance}}")], w=8,
              description="Running requests on the orchestrator, open KV sessions on draft/target."),
        panel("KV cache memory", [(f'sum by (role, instance) (tandem:kv_cache_bytes{{{N}, role=~"target|draft"}})',
                                   "{{role}} {{instance}}")], unit="bytes", w=8),
        panel("KV cache use of budget", [(ratio(f'sum by (role, instance) (tandem:kv_cache_bytes{{{N}}})',
                                                f'sum by (role, instance) (tandem:kv_cache_budget_bytes{{{N}}})'),
                                          "{{role}} {{instance}}")], unit="percentunit", w=8,
              description="Needs tandem:kv_cache_budget_bytes (observability/MISSING_METRICS.md)."),
        panel("Queue depth", [(f"sum by (role, instance) (tandem:num_requests_waiting{{{N}}})",
                               "{{role}} {{instance}}")], w=12,
              description="Requests waiting for a slot in the orchestrator's admission queue "
                          "(max_running_requests / max_queued_requests, docs/resilience.md)."),
        panel("Target batch size (mean)", [
            (ratio(f"sum by (instance) ({rate('tandem:target_batch_size_sum', N)})",
                   f"sum by (instance) ({rate('tandem:target_batch_size_count', N)})"), "{{instance}}")], w=12,
              description="Sessions per batched forward pass on the target."),
    ], ["llm"])


def speculative():
    acc = lambda by: f"sum by ({by}) ({rate('tandem:spec_decode_num_accepted_tokens_total', S)})"
    drafted = lambda by: f"sum by ({by}) ({rate('tandem:spec_decode_num_draft_tokens_total', S)})"
    drafts = lambda by: f"sum by ({by}) ({rate('tandem:spec_decode_num_drafts_total', S)})"
    steps = lambda outcome: f'sum({rate("tandem:rsd_steps_total", N, f"outcome=~{chr(34)}{outcome}{chr(34)}")})'
    segs = lambda outcome: f'sum({rate("tandem:cards_segments_total", N, f"outcome={chr(34)}{outcome}{chr(34)}")})'
    return dashboard("tandem-speculative", "tandem / Speculative and reward-guided decoding",
                     "Acceptance of speculative decoding and the per-strategy signals of RAPID, RSD and CARDS.", [
        row("Speculative decoding"),
        panel("Acceptance rate", [(ratio(acc("strategy, drafter"), drafted("strategy, drafter")),
                                   "{{strategy}} / {{drafter}}")], unit="percentunit", w=8,
              description="Accepted / drafted tokens."),
        panel("Mean acceptance length", [(f"1 + {ratio(acc('strategy, drafter'), drafts('strategy, drafter'))}",
                                          "{{strategy}} / {{drafter}}")], w=8,
              description="Tokens per target verification: 1 + accepted / drafts (the bonus token counts)."),
        panel("Acceptance by draft position", [(
            f"sum by (position) ({rate('tandem:spec_decode_num_accepted_tokens_per_pos_total', S)})"
            f" / on() group_left() ({drafts('job')} > 0)", "position {{position}}")],
              unit="percentunit", w=8,
              description="Share of draft rounds whose token at this position was accepted."),
        panel("Token flow", [(drafted("strategy"), "drafted {{strategy}}"), (acc("strategy"), "accepted {{strategy}}"),
                             (f"{drafted('strategy')} - {acc('strategy')}", "rejected {{strategy}}")],
              unit="short", w=12, description="Drafted, accepted and rejected tokens per second."),
        panel("Target calls per generated token", [(
            ratio(f"sum by (strategy) ({rate('tandem:target_calls_total', S)})",
                  f"sum by (strategy) ({rate('tandem:generation_tokens_total', S)})"), "{{strategy}}")], w=12,
              description="Below 1 is what speculation buys: several tokens per target pass."),
        panel("Time waiting on drafter vs target", [
            (f"sum by (strategy) ({rate('tandem:draft_time_seconds_total', S)})", "draft {{strategy}}"),
            (f"sum by (strategy) ({rate('tandem:target_time_seconds_total', S)})", "target {{strategy}}")],
              unit="s", w=12, stack=True, description="Seconds per second spent in each model."),
        panel("Estimated compute by model", [
            (f"sum by (strategy, exported_model) ({rate('tandem:estimated_flops_total', S)})",
             "{{strategy}} {{exported_model}}")], unit="flops", w=12,
              description="2 x parameters x tokens forwarded. tandem's own `model` label (draft, target, prm) "
                          "is renamed exported_model because the scrape adds the deployment's `model`."),
        panel("Chosen draft length (gamma) by reason", [
            (ratio(f"sum by (reason) ({rate('tandem:spec_decode_gamma_sum', S)})",
                   f"sum by (reason) ({rate('tandem:spec_decode_gamma_count', S)})"), "mean {{reason}}")], w=12,
              description="Mean gamma the controller chose per round, by reason: fixed (the request's), acceptance "
                          "(best for the acceptance rate and measured draft/verify costs), load (smaller because "
                          "the target's batch is full, or plain steps measured faster; 0 = plain target steps), probe "
                          "(one token after a run of 0, or one plain step under load), prefill (0: the drafter's "
                          "catch-up prefill would not be repaid by the tokens left)."),
        panel("Speculation rounds by gamma reason", [
            (f"sum by (reason) ({rate('tandem:spec_decode_gamma_count', S)})", "{{reason}}"),
            (f"sum({rate('tandem:spec_decode_gamma_bucket', S, 'le=' + chr(34) + '0' + chr(34))})", "gamma 0 (no drafting)")],
              w=12, stack=False,
              description="Rounds per second by the controller's reason, and those at gamma 0: under load "
                          "adaptive speculation turns into plain target steps."),
        row("RAPID (retrieval-augmented speculative decoding)"),
        panel("Retrieval latency", quantiles("tandem:retrieval_latency_seconds", S, qs=(0.5, 0.9)), unit="s", w=12),
        panel("Retrieved tokens per request", [
            (ratio(f"sum({rate('tandem:retrieved_tokens_sum', S)})", f"sum({rate('tandem:retrieved_tokens_count', S)})"),
             "mean"),
            (f"histogram_quantile(0.9, sum by (le) ({rate('tandem:retrieved_tokens_bucket', S)}))", "p90")],
              w=12, description="Tokens of retrieved chunks the drafter reads."),
        row("RSD (reward-guided speculative decoding)"),
        panel("Fraction of steps written by the target", [(ratio(steps("target"), steps("accepted|target")),
                                                           "target / all steps")], unit="percentunit", w=8),
        panel("RSD steps by outcome", [(f'sum by (outcome) ({rate("tandem:rsd_steps_total", N)})', "{{outcome}}")],
              w=8),
        panel("RSD draft tokens by outcome", [(f'sum by (outcome) ({rate("tandem:rsd_draft_tokens_total", N)})',
                                              "{{outcome}}")], w=8),
        panel("RSD step reward distribution", [(f"sum by (le) (increase(tandem:rsd_step_reward_bucket{{{N}}}[{RI}]))",
                                                "{{le}}")], kind="heatmap", w=12,
              description="PRM reward of each scored draft step."),
        panel("Final reward of returned responses", quantiles("tandem:final_reward", S, by="strategy", qs=(0.1, 0.5, 0.9)),
              w=12, description="cards, best_of_n, args."),
        row("CARDS and reward calls"),
        panel("CARDS segments by outcome", [(f'sum by (outcome) ({rate("tandem:cards_segments_total", N)})',
                                            "{{outcome}}")], w=8),
        panel("CARDS rejections per accepted segment", [(ratio(segs("rejected"), segs("accepted")), "rejections")],
              w=8),
        panel("Reward items scored per request", [
            (ratio(f"sum by (strategy) ({rate('tandem:reward_items_total', S)})",
                   f"sum by (strategy) ({rate('tandem:request_success_total', S)})"), "{{strategy}}")], w=8),
    ], ["llm", "speculative-decoding"])


def main():
    ap = argparse.ArgumentParser(description="Write tandem's Grafana dashboards.")
    ap.add_argument("--out", default=OUT, help="output folder (default: %(default)s)")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    for d in (overview(), speculative()):
        with open(os.path.join(out, d["uid"] + ".json"), "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
