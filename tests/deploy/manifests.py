"""Helpers shared by the chart and kustomize tests: render, parse, validate Kubernetes manifests.

Validation uses kubernetes-validate's bundled OpenAPI schemas in strict mode (unknown fields are
errors) for every Kubernetes version in K8S_VERSIONS. Custom resources have no schema there:
the kinds in CRD_KINDS are skipped explicitly (and reported by the tests); any other kind
without a schema is an error, so a typo in apiVersion cannot slip through as "unknown".
"""
import os

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "helm", "tandem")

# The oldest version the chart supports (native gRPC probes are GA in 1.27) and a current one.
K8S_VERSIONS = ("1.27.0", "1.33.0")

# Custom resources (Prometheus Operator, KEDA): validated only for their shape in the tests.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}


def parse_documents(text):
    """All non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


def validate(doc, version):
    """Raises AssertionError naming the object and the schema error, or returns 'skipped-crd'."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if key in CRD_KINDS:
        return "skipped-crd"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        raise AssertionError(f"{name} is invalid for Kubernetes {version}: {path}: {e.message}") from None
    except kubernetes_validate.SchemaNotFoundError as e:
        raise AssertionError(f"{name}: {e.message}") from None
    return "valid"


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]
