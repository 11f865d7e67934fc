"""observability/: dashboards are what build_dashboards.py writes and are well-formed Grafana
JSON with the variables the brief asks for; rules pass promtool's check and unit tests."""
import os
import subprocess
import sys

import pytest
import yaml

import observability as obs

PROMTOOL = "promtool"


def test_dashboards_match_their_generator(tmp_path):
    script = os.path.join(obs.OBS, "grafana", "build_dashboards.py")
    subprocess.run([sys.executable, script, "--out", str(tmp_path)], check=True)
    generated = sorted(os.listdir(tmp_path))
    assert generated == sorted(os.path.basename(p) for p in obs.DASHBOARDS)
    for name in generated:
        with open(tmp_path / name) as a, open(os.path.join(obs.OBS, "grafana", "dashboards", name)) as b:
            assert a.read() == b.read(), f"{name} differs from build_dashboards.py output: run it and commit"


@pytest.mark.parametrize("path", obs.DASHBOARDS, ids=os.path.basename)
def test_dashboard_shape(path):
    d = obs.load_dashboard(path)
    assert d["uid"] and d["title"].startswith("tandem")
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert {"datasource", "model", "instance", "strategy"} <= set(variables)
    for name in ("model", "instance", "strategy"):
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24


def test_dashboards_cover_the_brief():
    titles = {p["title"] for path in obs.DASHBOARDS for p in obs.load_dashboard(path)["panels"]}
    for wanted in ("Request rate", "Generated tokens/s", "Time to first token", "Inter-token latency",
                   "Failed requests by code", "Active sessions", "KV cache memory", "Queue depth",
                   "Acceptance rate", "Mean acceptance length", "Acceptance by draft position", "Token flow",
                   "Retrieval latency", "Retrieved tokens per request", "Fraction of steps written by the target",
                   "RSD step reward distribution", "CARDS rejections per accepted segment"):
        assert wanted in titles


def test_provisioning_points_at_the_dashboards():
    with open(os.path.join(obs.OBS, "grafana", "provisioning", "dashboards", "tandem.yaml")) as f:
        provider = yaml.safe_load(f)["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]
    with open(os.path.join(obs.OBS, "grafana", "provisioning", "datasources", "prometheus.yaml")) as f:
        (ds,) = yaml.safe_load(f)["datasources"]
    assert ds["type"] == "prometheus"


def test_promtool_check_rules():
    r = subprocess.run([PROMTOOL, "check", "rules", *obs.RULE_FILES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests():
    tests = os.path.join(obs.OBS, "prometheus", "tests")
    files = sorted(os.path.join(tests, f) for f in os.listdir(tests) if f.endswith(".yaml"))
    assert files
    r = subprocess.run([PROMTOOL, "test", "rules", *files], capture_output=True, text=True, cwd=tests)
    assert r.returncode == 0, r.stdout + r.stderr


def test_alerts_have_severity_and_summary():
    alerts = [r for r in obs.rule_entries() if "alert" in r]
    assert {a["alert"] for a in alerts} >= {"TandemServiceDown", "TandemAcceptanceCollapse",
                                             "TandemTTFTSLOBurnFast", "TandemKVCacheNearBudget"}
    for a in alerts:
        assert a["labels"]["severity"] in ("critical", "warning"), a["alert"]
        assert a["annotations"]["summary"] and a["annotations"]["description"], a["alert"]
