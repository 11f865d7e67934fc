"""helm/tandem: strict lint, renders of every CI value set validated against Kubernetes'
schemas, the important shape of the objects, and the values checks (schema and cross-role)."""
import copy
import json

import helm_python
import pytest
import yaml

import chart
from manifests import CRD_KINDS, K8S_VERSIONS, by_kind, validate

ROLES = ("orchestrator", "target", "draft", "reward", "retrieval")
VALUE_SETS = chart.ci_value_sets()


def enabled_roles(values):
    merged = chart.merged_values(values)
    return {r for r in ROLES if merged["roles"][r]["enabled"]}


def test_value_sets_present():
    assert set(VALUE_SETS) >= {"cpu-demo", "gpu", "minimal", "full"}


@pytest.mark.parametrize("name", VALUE_SETS)
@pytest.mark.parametrize("kube_version", K8S_VERSIONS)
def test_lint_strict(name, kube_version):
    report = chart.lint(chart.load_values(name), kube_version="v" + kube_version)
    # Severity 1 is INFO ("icon is recommended"); strict lint fails on WARNING (2) and ERROR (3).
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], json.dumps(report, indent=1)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_render_validates(name):
    docs = chart.render_documents(chart.load_values(name))
    assert docs
    skipped = set()
    for version in K8S_VERSIONS:
        for doc in docs:
            if validate(doc, version) == "skipped-crd":
                skipped.add((doc["apiVersion"], doc["kind"]))
    assert skipped <= CRD_KINDS


@pytest.mark.parametrize("name", VALUE_SETS)
def test_one_deployment_service_and_policy_per_enabled_role(name):
    values = chart.load_values(name)
    merged = chart.merged_values(values)
    roles = enabled_roles(values)
    docs = chart.render_documents(values)
    deployments = by_kind(docs, "Deployment")
    assert sorted(d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments) == sorted(roles)
    services = [s for s in by_kind(docs, "Service") if not s["metadata"]["name"].endswith("-peers")]
    assert sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in services) == sorted(roles)
    if merged["networkPolicy"]["enabled"]:
        assert len(by_kind(docs, "NetworkPolicy")) == len(roles)
    if merged["serviceMonitor"]["enabled"]:
        monitors = by_kind(docs, "ServiceMonitor")
        assert sorted(m["metadata"]["name"].rsplit("-", 1)[1] for m in monitors) == sorted(roles)
        for m in monitors:
            assert m["spec"]["endpoints"][0]["port"] == "metrics"
    expected_pdbs = {r for r in roles if merged["roles"][r]["pdb"]["enabled"]}
    assert {p["metadata"]["name"].rsplit("-", 1)[1] for p in by_kind(docs, "PodDisruptionBudget")} == expected_pdbs


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_container_has_grpc_probes_and_runs_non_root(name):
    docs = chart.render_documents(chart.load_values(name))
    for d in by_kind(docs, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
        values = chart.load_values(name)
        kind = "tcpSocket" if values.get("tls", {}).get("enabled") else "grpc"  # gRPC probes cannot speak TLS
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe][kind]["port"] == grpc_port, (d["metadata"]["name"], probe)
        assert container["args"][:3] == ["serve", "--role", d["metadata"]["labels"]["app.kubernetes.io/component"]]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def deployment_config(docs):
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    return yaml.safe_load(cm["data"]["deployment.yaml"])


def test_config_addresses_other_roles_by_service_dns_name():
    docs = chart.render_documents({}, release="prod", namespace="llm")
    config = deployment_config(docs)
    services = {s["name"]: s for s in config["services"]}
    assert {s["host"] for s in services.values()} == {"0.0.0.0"}
    orch = services["orchestrator"]
    assert orch["target"] == "prod-tandem-target.llm.svc:50052"
    assert orch["draft"] == "prod-tandem-draft.llm.svc:50053"
    assert orch["reward"] == "prod-tandem-reward.llm.svc:50055"
    assert orch["retrieval"] == "prod-tandem-retrieval.llm.svc:50054"
    service_names = {s["metadata"]["name"] for s in by_kind(docs, "Service")}
    for ref in ("target", "draft", "reward", "retrieval"):
        assert orch[ref].split(".")[0] in service_names
    # Every pod serves the entry named after its role.
    for d in by_kind(docs, "Deployment"):
        args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--service") + 1] in services


def test_config_keys_are_ones_tandem_accepts():
    """The rendered config only uses keys deploy_config.cc's parser accepts (unknown keys are
    fatal there), per role."""
    allowed = chart.deploy_config_keys()
    orchestrator_only = {"drafter", "draft", "target", "default_strategy", "retrieval", "reward", "http_port"}
    for name in VALUE_SETS:
        config = deployment_config(chart.render_documents(chart.load_values(name)))
        assert set(config) <= allowed["root"], name
        for s in config["services"]:
            assert set(s) <= allowed["service"], (name, s["name"], set(s) - allowed["service"])
            if s["role"] != "orchestrator":
                assert not set(s) & orchestrator_only, (name, s["name"])


def test_draft_head_vocab_reaches_only_the_draft_entry():
    """roles.draft.headVocab becomes the draft service's head_vocab (deploy_config.cc accepts it
    for role draft only); 0, the default, leaves the key out."""
    services = {s["name"]: s for s in deployment_config(chart.render_documents({}))["services"]}
    assert all("head_vocab" not in s for s in services.values())
    values = {"roles": {"draft": {"headVocab": 65536}}}
    services = {s["name"]: s for s in deployment_config(chart.render_documents(values))["services"]}
    assert services["draft"]["head_vocab"] == 65536
    assert [n for n, s in services.items() if "head_vocab" in s] == ["draft"]


def test_draft_requantize_reaches_only_the_draft_entry():
    """roles.draft.requantize becomes the draft service's requantize (deploy_config.cc accepts it
    for role draft only); "", the default, leaves the key out (other types: BAD_VALUES)."""
    services = {s["name"]: s for s in deployment_config(chart.render_documents({}))["services"]}
    assert all("requantize" not in s for s in services.values())
    values = {"roles": {"draft": {"requantize": "q4_0"}}}
    services = {s["name"]: s for s in deployment_config(chart.render_documents(values))["services"]}
    assert services["draft"]["requantize"] == "q4_0"
    assert [n for n, s in services.items() if "requantize" in s] == ["draft"]


def test_minimal_uses_ngram_drafter_and_no_fetch():
    docs = chart.render_documents(chart.load_values("minimal"))
    config = deployment_config(docs)
    (orch,) = [s for s in config["services"] if s["role"] == "orchestrator"]
    assert orch["drafter"] == "ngram" and "draft" not in orch and "reward" not in orch
    for d in by_kind(docs, "Deployment"):
        assert "initContainers" not in d["spec"]["template"]["spec"]
        claim = next(v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "models")
        assert claim["persistentVolumeClaim"]["claimName"] == "tandem-models"


def test_fetch_init_container_gets_each_roles_models():
    docs = chart.render_documents({})
    fetched = {}
    for d in by_kind(docs, "Deployment"):
        (init,) = d["spec"]["template"]["spec"]["initContainers"]
        args = init["args"]
        assert args[:2] == ["--cache", "/models"]
        fetched[d["metadata"]["labels"]["app.kubernetes.io/component"]] = args[2:]
    assert fetched["retrieval"] == ["smollm2-135m", "all-minilm-l6-v2"]
    assert fetched["target"] == ["smollm2-135m"]


def test_gpu_values_place_target_on_gpus():
    docs = chart.render_documents(chart.load_values("gpu"))
    (target,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-target")]
    pod = target["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "podAntiAffinity" in pod["affinity"]
    assert target["spec"]["replicas"] == 2


def test_role_env_reaches_only_that_roles_container():
    docs = chart.render_documents({"roles": {"target": {"env": [{"name": "TANDEM_WEIGHTS", "value": "mmap"}]}}})
    for d in by_kind(docs, "Deployment"):
        for version in K8S_VERSIONS:
            validate(d, version)
        env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        assert ({"name": "TANDEM_WEIGHTS", "value": "mmap"} in env) == (role == "target"), role
        assert env[0]["name"] == "TANDEM_MODEL_DIR"  # the chart's own entries stay first


def test_full_values_autoscaling_keda_tls_and_peers():
    docs = chart.render_documents(chart.load_values("full"))
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"].endswith("-orchestrator")
    (scaled,) = by_kind(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"].endswith("-target")
    assert scaled["spec"]["triggers"][0]["type"] == "prometheus"
    for d in by_kind(docs, "Deployment"):
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        # Autoscaled Deployments leave replicas to the HPA (else every upgrade resets them).
        assert ("replicas" in d["spec"]) == (role not in ("orchestrator", "target"))
        pod = d["spec"]["template"]["spec"]
        assert {"name": "tls", "secret": {"secretName": "tandem-mtls"}} in pod["volumes"]
    (peers,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-target-peers")]
    assert peers["spec"]["clusterIP"] == "None" and peers["spec"]["publishNotReadyAddresses"] is True
    claims = {c["metadata"]["name"] for c in by_kind(docs, "PersistentVolumeClaim")}
    assert claims == {"demo-tandem-models", "demo-tandem-retrieval-data"}


def test_tensor_parallel_target_is_a_statefulset_of_ranks():
    """worldSize > 1: one pod per rank, the rank from the pod index, rank 0's rendezvous under the
    headless -peers Service (services/parallel/bootstrap.h), ranks open to each other."""
    values = {"roles": {"target": {"tensorParallel": {"worldSize": 4, "rendezvousPort": 50060}}}}
    docs = chart.render_documents(values, release="prod", namespace="llm")
    for version in K8S_VERSIONS:
        for doc in docs:
            validate(doc, version)
    assert not [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-target")]
    (sts,) = by_kind(docs, "StatefulSet")
    assert sts["metadata"]["name"] == "prod-tandem-target"
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["serviceName"] == "prod-tandem-target-peers"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    (rank,) = [e for e in container["env"] if e["name"] == "TANDEM_TP_RANK"]
    assert rank["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert {"name": "rendezvous", "containerPort": 50060, "protocol": "TCP"} in container["ports"]
    (peers,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "prod-tandem-target-peers"]
    assert {p["name"]: p["port"] for p in peers["spec"]["ports"]} == {"grpc": 50052, "rendezvous": 50060}
    config = deployment_config(docs)
    (target,) = [s for s in config["services"] if s["role"] == "target"]
    # No rank in the shared config: each pod has its own from TANDEM_TP_RANK.
    assert target["tensor_parallel"] == {"world_size": 4,
                                         "rendezvous": "prod-tandem-target-0.prod-tandem-target-peers.llm.svc:50060"}
    assert target["device"] == "cuda"  # the ranks talk over NCCL between GPUs
    (policy,) = [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-target")]
    open_rules = [r for r in policy["spec"]["ingress"] if "ports" not in r]
    assert len(open_rules) == 1
    assert open_rules[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "target"
    # The default (world size 1) stays a Deployment without the rank, port or open rule.
    default = chart.render_documents({})
    assert not by_kind(default, "StatefulSet")
    default_target = [s for s in deployment_config(default)["services"] if s["role"] == "target"][0]
    assert "tensor_parallel" not in default_target and "device" not in default_target


def test_network_policy_only_orchestrator_open():
    docs = chart.render_documents({})
    for policy in by_kind(docs, "NetworkPolicy"):
        role = policy["metadata"]["labels"]["app.kubernetes.io/component"]
        grpc_rule = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "grpc")
        if role == "orchestrator":
            assert "from" not in grpc_rule  # any client
        else:
            components = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in grpc_rule["from"]}
            assert components == ({"orchestrator", "target"} if role == "target" else {"orchestrator"})


def test_tls_is_off_by_default():
    docs = chart.render_documents({})
    for d in by_kind(docs, "Deployment"):
        assert all(v["name"] != "tls" for v in d["spec"]["template"]["spec"]["volumes"])
        assert "grpc" in d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    config = yaml.safe_load(cm["data"]["deployment.yaml"])
    assert "tls" not in config and "auth" not in config


def test_tls_and_auth_values_reach_the_deployment_config():
    docs = chart.render_documents(chart.load_values("full"))
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    config = yaml.safe_load(cm["data"]["deployment.yaml"])
    assert config["tls"] == {"cert": "/etc/tandem/tls/tls.crt", "key": "/etc/tandem/tls/tls.key",
                             "ca": "/etc/tandem/tls/ca.crt", "require_client_cert": True}
    assert config["auth"] == {"token_file": "/etc/tandem/auth/token"}
    for d in by_kind(docs, "Deployment"):
        role = d["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = d["spec"]["template"]["spec"]
        container = pod["containers"][0]
        # Kubernetes' gRPC probes cannot speak TLS.
        assert "tcpSocket" in container["readinessProbe"] and "grpc" not in container["readinessProbe"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["tls"] == "/etc/tandem/tls"
        # Only the public API reads the token.
        assert ("auth" in mounts) == (role == "orchestrator")


# Values that must fail `helm install`, with (a part of) the message the user sees.
BAD_VALUES = [
    ({"roles": {"target": {"replicas": -1}}}, "/roles/target/replicas"),
    ({"roles": {"target": {"grpcPort": 70000}}}, "/roles/target/grpcPort"),
    ({"roles": {"orchestrator": {"drafter": "eagle"}}}, "/roles/orchestrator/drafter"),
    ({"roles": {"orchestrator": {"defaultStrategy": "beam"}}}, "/roles/orchestrator/defaultStrategy"),
    ({"roles": {"target": {"replica": 2}}}, "replica"),  # typo: unknown key
    ({"roles": {"gateway": {"enabled": True}}}, "gateway"),
    ({"roles": {"target": {"kvBudgetMb": 0}}}, "/roles/target/kvBudgetMb"),
    ({"models": {"volume": {"type": "hostPath"}}}, "/models/volume/type"),
    ({"tls": {"enabled": True}}, "/tls"),
    ({"auth": {"enabled": True, "secretName": ""}}, "/auth"),
    ({"roles": {"target": {"keda": {"enabled": True, "query": ""}}}}, "/roles/target/keda"),
    ({"deploymentName": "Bad Name"}, "/deploymentName"),
    ({"serviceMonitor": {"interval": "fast"}}, "/serviceMonitor/interval"),
    ({"roles": {"draft": {"env": [{"value": "mmap"}]}}}, "/roles/draft/env/0"),
    ({"roles": {"draft": {"env": [{"name": "TANDEM WEIGHTS", "value": "mmap"}]}}}, "/roles/draft/env/0/name"),
    ({"roles": {"draft": {"requantize": "q2_k"}}}, "/roles/draft/requantize"),
]

# Rules across roles (templates/_validate.tpl): the render fails with these messages.
BAD_COMBINATIONS = [
    ({"roles": {"target": {"enabled": False}}}, "roles.orchestrator.enabled needs roles.target.enabled"),
    ({"auth": {"enabled": True, "secretName": "t"}}, "auth.enabled needs tls.enabled"),
    ({"roles": {"draft": {"enabled": False}}}, "roles.orchestrator.drafter=model needs roles.draft.enabled"),
    ({"roles": {"orchestrator": {"drafter": "none"}}}, "defaultStrategy=speculative needs a drafter"),
    ({"roles": {"draft": {"grpcPort": 50052}}}, "roles.draft.grpcPort=50052 is already used by roles.target.grpcPort"),
    ({"roles": {"reward": {"metricsPort": 50051}}}, "roles.reward.metricsPort=50051 is already used by roles.orchestrator.grpcPort"),
    ({"roles": {"orchestrator": {"autoscaling": {"enabled": True}, "keda": {
        "enabled": True, "query": "x", "serverAddress": "http://p:9090"}}}}, "enable one"),
    ({"roles": {"target": {"tensorParallel": {"worldSize": 2, "rendezvousPort": 50060}, "peersService": False}}},
     "worldSize > 1 needs roles.target.peersService"),
    ({"roles": {"target": {"tensorParallel": {"worldSize": 2, "rendezvousPort": 50060},
                           "autoscaling": {"enabled": True}}}}, "disable roles.target.autoscaling"),
    ({"roles": {"target": {"tensorParallel": {"worldSize": 2, "rendezvousPort": 50053}}}},
     "rendezvousPort=50053 is already used by roles.draft"),
]


@pytest.mark.parametrize("values,message", BAD_VALUES)
def test_schema_rejects(values, message):
    with pytest.raises(helm_python.HelmValuesError) as e:
        chart.render(values)
    assert message in str(e.value), str(e.value)


@pytest.mark.parametrize("values,message", BAD_COMBINATIONS)
def test_cross_role_rules_reject(values, message):
    with pytest.raises(helm_python.HelmError) as e:
        chart.render(values)
    assert message in str(e.value), str(e.value)


def test_ci_value_sets_pass_the_schema():
    with helm_python.Chart.load(chart.CHART) as c:
        for name in VALUE_SETS:
            c.validate_schema(copy.deepcopy(chart.load_values(name)))
