"""End to end: `tandem up` deploy/local.yaml (fresh ports), a real Prometheus (Debian's
/usr/bin/prometheus) scraping every service on loopback with tandem's rules loaded, traffic
through the orchestrator with every strategy a panel needs, then every dashboard panel query
(variables substituted) must return data through Prometheus' HTTP API; queries on metrics
listed in observability/MISSING_METRICS.md must return none (until tandem exports them).

Needs the tandem binary: TANDEM_BIN (scripts/test-deploy.sh sets it to BUILD/cli/tandem)."""
import json
import math
import os
import signal
import subprocess
import time

import pytest

import live
import observability as obs

TANDEM = os.environ.get("TANDEM_BIN", "")
pytestmark = pytest.mark.skipif(not (TANDEM and os.access(TANDEM, os.X_OK)),
                                reason="TANDEM_BIN is not an executable tandem binary")

DOCUMENT = "\n\n".join(
    f"Section {i}. The lighthouse keeper on island {i} logs the weather at dawn and dusk, "
    f"repairs the lamp when gulls break it, and writes down the passing ships. "
    + ("The secret code of the archive is 4417. " if i == 7 else "")
    + "Supplies arrive by boat every second week when the sea is calm."
    for i in range(1, 13))

# (name, extra generate arguments). Each runs twice, a scrape apart, so every counter has
# moved between two samples and rate() sees it; each strategy feeds the panels named.
TRAFFIC = [
    ("speculative/model", ["--strategy", "speculative", "--param", "gamma=4"]),      # acceptance, draft RPC
    ("speculative/ngram", ["--strategy", "speculative", "--param", "drafter=ngram"]),
    ("target_only", ["--strategy", "target_only"]),
    ("rapid", ["--strategy", "rapid", "--param", "l_min=64", "--param", "chunk_tokens=32",
               "--param", "theta=-1", "--context-file", "{document}"]),               # retrieval panels
    ("rsd", ["--strategy", "rsd", "--param", "delta=0.99", "--param", "delimiter=\\n",
             "--param", "step_max_tokens=6"]),                                        # RSD panels, flops
    ("cards", ["--strategy", "cards", "--param", "max_segment=8", "--param", "max_rejections=2",
               "--param", "acceptance=hard"]),                                        # CARDS, final reward
]
PROMPT = "Write three short sentences about lighthouses and the sea."


def tandem(*args, timeout=600, check=True):
    r = subprocess.run([TANDEM, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"tandem {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("deploy-e2e"))
    config_path, config = live.local_config(work)
    prom = live.Prometheus(work, live.prometheus_config(work, config))
    try:
        prom.wait_ready()
        tandem("up", config_path, "--timeout", "300")
        orch = next(s for s in config["services"] if s["role"] == "orchestrator")
        server = f"127.0.0.1:{orch['grpc_port']}"
        document = os.path.join(work, "document.txt")
        with open(document, "w") as f:
            f.write(DOCUMENT)
        ran = []
        for _round in range(2):
            for name, args in TRAFFIC:
                args = [a.replace("{document}", document) for a in args]
                # --chat: SmolLM2 is an instruct model (a raw prompt may end at once);
                # --ignore-eos: every request writes its 16 tokens, so every histogram moves.
                out = tandem("generate", "--server", server, "--max-tokens", "16", "--temperature", "0",
                             "--chat", "--ignore-eos", "--timeout", "300", "--json", *args, "--prompt", PROMPT)
                assert json.loads(out.stdout)["completion_tokens"] > 0, (name, out.stdout)
                ran.append(name)
            # A request the orchestrator rejects (gamma out of range): the error panels.
            bad = tandem("generate", "--server", server, "--strategy", "speculative", "--param", "gamma=999",
                         "--prompt", PROMPT, check=False)
            assert bad.returncode != 0, "gamma=999 should be rejected"
            time.sleep(3)  # a few scrapes between the rounds
        time.sleep(4)      # the last round scraped, rules evaluated
        yield {"prom": prom, "config": config, "config_path": config_path, "work": work, "ran": ran}
    finally:
        tandem("down", config_path, "--grace", "5", check=False)
        prom.stop()


def finite_values(result):
    return [float(r["value"][1]) for r in result if math.isfinite(float(r["value"][1]))]


def uses_missing_metric(expr):
    return any(s.name in obs.missing_metrics() for s in obs.selectors(obs.substitute(expr)))


PANELS = [(os.path.basename(p), title, expr) for p in obs.DASHBOARDS for title, expr in obs.panel_queries(obs.load_dashboard(p))]

# The strategy that feeds a metric, for the concrete-variables run (speculative by default).
STRATEGY_OF = {"tandem:retrieval_latency_seconds": "rapid", "tandem:retrieved_tokens": "rapid",
               "tandem:final_reward": "cards", "tandem:reward_items_total": "cards",
               "tandem:estimated_flops_total": "rsd"}


def concrete_values(expr):
    """model = the bundled model, strategy = the one strategy that feeds the panel's metrics:
    with `.*` any one strategy could hide another that records nothing."""
    strategy = "speculative"
    for s in obs.selectors(obs.substitute(expr)):
        base = s.name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        strategy = STRATEGY_OF.get(base, strategy)
    return {"model": "smollm2-135m", "strategy": strategy}


@pytest.mark.parametrize("setting", ["all", "concrete"])
@pytest.mark.parametrize("dashboard,title,expr", PANELS, ids=[f"{d}: {t}: {i}" for i, (d, t, _) in enumerate(PANELS)])
def test_panel_returns_data(deployment, setting, dashboard, title, expr):
    values = {} if setting == "all" else concrete_values(expr)
    query = obs.substitute(expr, values, rate_interval="10m")
    result = deployment["prom"].query(query)
    if uses_missing_metric(expr):
        assert not result, f"{title}: returns data now: remove its metric from MISSING_METRICS.md\n{query}"
        return
    assert finite_values(result), f"{title}: no finite data\n{query}\n{result}"


def test_variables_list_what_ran(deployment):
    prom = deployment["prom"]
    for path in obs.DASHBOARDS:
        for name, selector in obs.variable_queries(obs.load_dashboard(path)):
            label = name
            series = prom.api("series", **{"match[]": obs.substitute(selector)})
            values = {s.get(label) for s in series} - {None}
            if name == "model":
                assert "smollm2-135m" in values
            elif name == "strategy":
                assert {"speculative", "target_only", "rapid", "rsd", "cards"} <= values, values
            else:
                assert len(values) == len(deployment["config"]["services"]), values


def test_generate_logprobs_over_the_wire(deployment):
    """`tandem generate --server --logprobs`: one entry per token through the orchestrator and
    the target service, greedy speculation reporting exactly target-only's numbers."""
    server = f"127.0.0.1:{next(s for s in deployment['config']['services'] if s['role'] == 'orchestrator')['grpc_port']}"
    answers = {}
    for strategy in ("target_only", "speculative"):
        out = tandem("generate", "--server", server, "--max-tokens", "8", "--temperature", "0", "--ignore-eos",
                     "--json", "--logprobs", "--top-logprobs", "2", "--prompt-logprobs", "--strategy", strategy,
                     "--gamma", "3", "--prompt", PROMPT)
        answer = json.loads(out.stdout)
        entries = answer["logprobs"]
        assert [e["token_id"] for e in entries] == answer["token_ids"] and len(entries) == 8, answer
        for e in entries:
            assert e["logprob"] <= 0 and len(e["top_logprobs"]) == 2, e
            assert e["top_logprobs"][0] == {"token_id": e["token_id"], "logprob": e["logprob"]}, e  # greedy
        # The prompt scored on the target service too: the first token unscored, the rest with alternatives.
        prompt = answer["prompt_logprobs"]
        assert len(prompt) == answer["prompt_tokens"] and prompt[0]["logprob"] is None, prompt
        assert all(p["logprob"] <= 0 and len(p["top_logprobs"]) == 2 for p in prompt[1:]), prompt
        answers[strategy] = (entries, prompt)
    assert answers["speculative"] == answers["target_only"]
    bad = tandem("generate", "--server", server, "--strategy", "cards", "--logprobs", "--prompt", PROMPT,
                 check=False)
    assert bad.returncode != 0 and "logprobs" in bad.stderr, bad.stderr


def test_recording_rules_have_data(deployment):
    prom = deployment["prom"]
    rate = prom.query('model_strategy_drafter:tandem_spec_decode_acceptance_rate:ratio_rate5m'
                      '{strategy="speculative", drafter="model"}')
    # The draft and target are the same model: greedy drafts are (almost) always accepted.
    assert rate and 0.5 <= float(rate[0]["value"][1]) <= 1.0, rate
    length = prom.query('model_strategy_drafter:tandem_spec_decode_mean_acceptance_length:rate5m')
    assert finite_values(length) and min(finite_values(length)) >= 1.0
    assert finite_values(prom.query("model:tandem_ttft_slo_violation:ratio_rate5m"))


def test_no_alert_fires_while_healthy(deployment):
    firing = deployment["prom"].query('ALERTS{alertstate="firing"}')
    assert not firing, firing


def test_service_down_alert_goes_pending(deployment):
    """Last: stops the draft service, whose `up` drops to 0, and TandemServiceDown turns pending."""
    prom, config = deployment["prom"], deployment["config"]
    pid_file = os.path.join(config["log_dir"], "draft.pid")
    with open(pid_file) as f:
        os.kill(int(f.read().strip()), signal.SIGTERM)
    deadline = time.time() + 60
    while time.time() < deadline:
        alerts = prom.query('ALERTS{alertname="TandemServiceDown", role="draft"}')
        if alerts:
            assert alerts[0]["metric"]["alertstate"] == "pending"
            return
        time.sleep(1)
    pytest.fail("TandemServiceDown did not go pending within 60 s of stopping the draft service")
