#!/usr/bin/env bash
# End-to-end tests of the OpenAI-compatible HTTP gateway (docs/openai-gateway.md): starts a real
# deployment with `tandem up` on free loopback ports (target, draft and an orchestrator with
# http_port; SmolLM2-135M, one compute thread each), then runs the official `openai` Python client
# against it (tests/gateway/test_openai_client.py) and a few curl requests, and stops it.
# Usage: scripts/test-gateway.sh BUILD_DIR    (scripts/test.sh passes its optimized build folder)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 1 ]]; then
  echo "usage: scripts/test-gateway.sh BUILD_DIR" >&2
  exit 2
fi
BIN="$(cd "$1" && pwd)/cli/tandem"
[[ -x "$BIN" ]] || { echo "test-gateway.sh: $BIN is missing: build tandem first" >&2; exit 1; }
PY="$ROOT/.venv/bin/python"
"$PY" -c "import openai, pytest" 2>/dev/null || "$ROOT/.venv/bin/pip" install -q -r "$ROOT/scripts/requirements.txt"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tandem-gateway-test.XXXXXX")"
# Five distinct free loopback ports (bound together so that they differ).
read -r TARGET DRAFT ORCH HTTP METRICS < <("$PY" - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
PY
)
cat > "$WORK/deployment.yaml" <<YAML
name: gateway-test-$HTTP
log_dir: $WORK/logs
services:
  - name: target
    role: target
    model: smollm2-135m
    grpc_port: $TARGET
    threads: 1
    kv_budget_mb: 256
  - name: draft
    role: draft
    model: smollm2-135m
    grpc_port: $DRAFT
    threads: 1
    kv_budget_mb: 128
  - name: orchestrator
    role: orchestrator
    model: smollm2-135m
    grpc_port: $ORCH
    metrics_port: $METRICS
    http_port: $HTTP
    drafter: model
    draft: draft
    target: target
    default_strategy: speculative
YAML
cleanup() {
  "$BIN" down "$WORK/deployment.yaml" --grace 5 >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
logs() { for f in "$WORK"/logs/*.log; do echo "--- $f"; tail -n 20 "$f"; done; }

echo "[test-gateway] tandem up (HTTP on 127.0.0.1:$HTTP)"
"$BIN" up "$WORK/deployment.yaml" --timeout 300 | tee "$WORK/up.txt" || { logs; exit 1; }
grep -q "http://127.0.0.1:$HTTP/v1" "$WORK/up.txt" || { echo "tandem up did not print the gateway URL" >&2; exit 1; }
URL="http://127.0.0.1:$HTTP"

echo "[test-gateway] curl"
fail() { echo "test-gateway.sh: $*" >&2; logs; exit 1; }
curl -sSf "$URL/health" | grep -q '"status":"ok"' || fail "GET /health"
body='{"model": "smollm2-135m", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "temperature": 0}'
out="$(curl -sS -H 'Content-Type: application/json' -d "$body" "$URL/v1/chat/completions")"
"$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["object"] == "chat.completion" and r["choices"][0]["message"]["content"] and r["usage"]["completion_tokens"] > 0 and "tandem" in r, r' "$out" \
  || fail "curl chat completion: $out"
stream="$(curl -sSN -H 'Content-Type: application/json' -d "${body%\}}, \"stream\": true}" "$URL/v1/chat/completions")"
[[ "$(printf '%s\n' "$stream" | grep -c '^data: ')" -ge 3 && "$stream" == *"data: [DONE]"* ]] || fail "curl stream: $stream"
code="$(curl -sS -o "$WORK/err.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"model": "nope", "messages": [{"role": "user", "content": "x"}]}' "$URL/v1/chat/completions")"
[[ "$code" == 404 ]] && grep -q '"code":"model_not_found"' "$WORK/err.json" || fail "curl unknown model: $code $(cat "$WORK/err.json")"

echo "[test-gateway] openai client"
TANDEM_GATEWAY_URL="$URL/v1" TANDEM_METRICS_URL="http://127.0.0.1:$METRICS/metrics" \
  "$PY" -m pytest -q -p no:cacheprovider "$ROOT/tests/gateway" || { logs; exit 1; }
