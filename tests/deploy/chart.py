"""Renders and lints helm/tandem with Helm's own Go SDK (helm-python-sdk), offline."""
import os
import re

import helm_python
import yaml

from manifests import CHART, ROOT, parse_documents

CI_VALUES = os.path.join(CHART, "ci")


def ci_value_sets():
    """Names of the value sets under helm/tandem/ci/ (cpu-demo, gpu, minimal, full)."""
    return sorted(f[: -len("-values.yaml")] for f in os.listdir(CI_VALUES) if f.endswith("-values.yaml"))


def load_values(name):
    with open(os.path.join(CI_VALUES, f"{name}-values.yaml")) as f:
        return yaml.safe_load(f) or {}


def render(values=None, release="demo", namespace="tandem"):
    """{template path: manifest text} as `helm template` would print them (schema checked)."""
    with helm_python.Chart.load(CHART) as chart:
        return chart.render(values or {}, name=release, namespace=namespace)


def render_documents(values=None, **kwargs):
    """Every Kubernetes object of a render (NOTES.txt left out)."""
    docs = []
    for path, text in sorted(render(values, **kwargs).items()):
        if path.endswith(".yaml"):
            docs.extend(parse_documents(text))
    return docs


def lint(values=None, kube_version=None):
    return helm_python.lint(CHART, values, strict=True, kube_version=kube_version)


def merged_values(values=None):
    """The chart defaults coalesced with `values`, as an install would use them."""
    with helm_python.Chart.load(CHART) as chart:
        return chart.merge_values(values or {})


def deploy_config_keys():
    """The keys tandem's deployment config parser accepts, read from its source, so the chart
    and the C++ cannot drift apart silently: {"root": {...}, "service": {...}}."""
    source = _find_source("deploy_config.cc")
    with open(source) as f:
        text = f.read()
    lists = re.findall(r"CheckKeys\(\s*\w+,\s*[^,]+,\s*\{([^}]*)\}", text)
    sets = [set(re.findall(r'"([a-z_]+)"', body)) for body in lists]
    root = next((s for s in sets if "services" in s), None)
    service = next((s for s in sets if "grpc_port" in s), None)
    if root is None or service is None:
        raise AssertionError(f"{source}: cannot find the CheckKeys lists of the root and of a service")
    return {"root": root, "service": service}


def _find_source(filename):
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d not in ("third_party", "node_modules")]
        if filename in files:
            return os.path.join(folder, filename)
    raise AssertionError(f"{filename} not found under {ROOT}")
