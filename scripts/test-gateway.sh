#!/usr/bin/env bash
# End-to-end tests of the OpenAI-compatible HTTP gateway (docs/openai-gateway.md): starts a real
# deployment with `tandem up` on free loopback ports (target, draft and an orchestrator with
# http_port; SmolLM2-135M, one compute thread each), then runs the official `openai` Python client
# against it (tests/gateway/test_openai_client.py: chat, completions, streaming, logprobs, errors,
# cancellation) and a few curl requests, and stops it.
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
# The raw shape of chat logprobs (the client's models would not notice a missing key).
lp="$(curl -sS -H 'Content-Type: application/json' -d "${body%\}}, \"logprobs\": true, \"top_logprobs\": 2}" "$URL/v1/chat/completions")"
"$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); lp = r["choices"][0]["logprobs"]; assert set(lp) == {"content", "refusal"} and lp["refusal"] is None and len(lp["content"]) == r["usage"]["completion_tokens"] and all(set(e) == {"token", "logprob", "bytes", "top_logprobs"} and len(e["top_logprobs"]) == 2 for e in lp["content"]), r' "$lp" \
  || fail "curl chat logprobs: $lp"
code="$(curl -sS -o "$WORK/err.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"model": "nope", "messages": [{"role": "user", "content": "x"}]}' "$URL/v1/chat/completions")"
[[ "$code" == 404 ]] && grep -q '"code":"model_not_found"' "$WORK/err.json" || fail "curl unknown model: $code $(cat "$WORK/err.json")"

echo "[test-gateway] openai client"
TANDEM_GATEWAY_URL="$URL/v1" TANDEM_METRICS_URL="http://127.0.0.1:$METRICS/metrics" \
  "$PY" -m pytest -q -p no:cacheprovider "$ROOT/tests/gateway" || { logs; exit 1; }
"$BIN" down "$WORK/deployment.yaml" --grace 5 >/dev/null

# The gateway follows the deployment's security: HTTPS with the tls block (here mutual TLS, so
# clients show a certificate of the CA) and the bearer token of the auth block.
echo "[test-gateway] HTTPS, mutual TLS and bearer token"
"$ROOT/scripts/make-dev-certs.sh" "$WORK/certs" >/dev/null
C="$WORK/certs"
cat > "$WORK/secure.yaml" <<YAML
name: gateway-tls-test-$HTTP
log_dir: $WORK/logs
tls: {cert: $C/server.crt, key: $C/server.key, ca: $C/ca.crt, require_client_cert: true}
auth: {token_file: $C/token}
services:
  - {name: target, role: target, model: smollm2-135m, grpc_port: $TARGET, threads: 1, kv_budget_mb: 128}
  - {name: orchestrator, role: orchestrator, model: smollm2-135m, grpc_port: $ORCH, http_port: $HTTP, target: target}
YAML
cleanup() {
  "$BIN" down "$WORK/secure.yaml" --grace 5 >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
"$BIN" up "$WORK/secure.yaml" --timeout 300 > "$WORK/up.txt" || { cat "$WORK/up.txt"; logs; exit 1; }
grep -q "https://127.0.0.1:$HTTP/v1" "$WORK/up.txt" || fail "tandem up did not print the https URL: $(cat "$WORK/up.txt")"
S="https://127.0.0.1:$HTTP"
TLS=(--cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key")
code() { curl -sS -o "$WORK/out.json" -w '%{http_code}' "$@" || true; }
[[ "$(code "${TLS[@]}" "$S/health")" == 200 ]] || fail "https /health: $(cat "$WORK/out.json")"
[[ "$(code "${TLS[@]}" "$S/v1/models")" == 401 ]] && grep -q '"invalid_api_key"' "$WORK/out.json" || fail "no token: $(cat "$WORK/out.json")"
[[ "$(code "${TLS[@]}" -H "Authorization: Bearer $(cat "$C/token")" "$S/v1/models")" == 200 ]] || fail "with token: $(cat "$WORK/out.json")"
[[ "$(code --cacert "$C/ca.crt" -H "Authorization: Bearer $(cat "$C/token")" "$S/v1/models" 2>/dev/null)" == 000 ]] \
  || fail "a client without a certificate got an answer"
[[ "$(code "http://127.0.0.1:$HTTP/health" 2>/dev/null)" != 200 ]] || fail "plain HTTP answered on the TLS port"
"$PY" - "$S/v1" "$C" <<'PY' || fail "openai client over mutual TLS"
import ssl, sys
import openai
url, certs = sys.argv[1], sys.argv[2]
tls = ssl.create_default_context(cafile=f"{certs}/ca.crt")
tls.load_cert_chain(f"{certs}/client.crt", f"{certs}/client.key")
token = open(f"{certs}/token").read().strip()
client = openai.OpenAI(base_url=url, api_key=token, max_retries=0, http_client=openai.DefaultHttpxClient(verify=tls))
reply = client.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=4, temperature=0)
assert reply.choices[0].message.content and reply.usage.completion_tokens > 0, reply
bad = openai.OpenAI(base_url=url, api_key="wrong", max_retries=0, http_client=openai.DefaultHttpxClient(verify=tls))
try:
    bad.models.list()
    raise SystemExit("a wrong token was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401 and e.code == "invalid_api_key", e
PY
echo "[test-gateway] all passed"
