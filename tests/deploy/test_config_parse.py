"""The deployment configs the chart and the kustomize targets produce are accepted by tandem's
own parser (services/common/deploy_config.cc) — `tandem down CONFIG` loads and validates the
whole file; with an empty log_dir it then has nothing to stop."""
import os

import pytest
import yaml

import chart
import test_kustomize
from manifests import by_kind

TANDEM = os.environ.get("TANDEM_BIN", "")
pytestmark = pytest.mark.skipif(not (TANDEM and os.access(TANDEM, os.X_OK)),
                                reason="TANDEM_BIN is not an executable tandem binary")


def parse_with_tandem(config_text, tmp_path):
    import subprocess
    config = yaml.safe_load(config_text)
    config["log_dir"] = str(tmp_path / "run")  # nothing runs there: down only parses
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([TANDEM, "down", str(path), "--grace", "0"], capture_output=True, text=True, timeout=60)


def helm_config(name):
    docs = chart.render_documents(chart.load_values(name))
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    return cm["data"]["deployment.yaml"]


@pytest.mark.parametrize("name", chart.ci_value_sets())
def test_helm_config_parses(name, tmp_path):
    r = parse_with_tandem(helm_config(name), tmp_path)
    assert r.returncode == 0, r.stderr


def test_helm_tensor_parallel_config_parses(tmp_path):
    """The target's tensor_parallel block (worldSize > 1) is one tandem accepts."""
    docs = chart.render_documents({"roles": {"target": {"tensorParallel": {"worldSize": 2, "rendezvousPort": 50060}}}})
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    assert "tensor_parallel" in cm["data"]["deployment.yaml"]
    r = parse_with_tandem(cm["data"]["deployment.yaml"], tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", sorted(test_kustomize.TARGETS))
def test_kustomize_config_parses(name, tmp_path):
    cm, _ = test_kustomize.config_of(test_kustomize.build(name))
    r = parse_with_tandem(cm["data"]["deployment.yaml"], tmp_path)
    assert r.returncode == 0, r.stderr


def test_parser_rejects_a_broken_config(tmp_path):
    """Control: the same path fails on a config tandem refuses (two roles on one port)."""
    config = yaml.safe_load(helm_config("cpu-demo"))
    config["services"][1]["grpc_port"] = config["services"][0]["grpc_port"]
    r = parse_with_tandem(yaml.safe_dump(config), tmp_path)
    assert r.returncode != 0 and "already used" in r.stderr, r.stderr
