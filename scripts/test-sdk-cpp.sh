#!/usr/bin/env bash
# Tests of the C++ SDK (sdk/cpp) as an application uses it: installs BUILD_DIR into a fresh prefix
# (`cmake --install`), builds sdk/cpp/examples as a separate CMake project against it
# (find_package(tandem CONFIG) + tandem::client), starts a real deployment with `tandem up` (every
# service on SmolLM2-135M, free loopback ports, its own log and data folders; TLS with the dev
# certificates of scripts/make-dev-certs.sh and a bearer token on the public API) and runs the
# examples against it over TLS with the token: `generate` (the docs' quick start) and `live_check`
# (every SDK call with its result checked, and a call without the token). The SDK's unit tests are
# in CTest (sdk_cpp_*).
# Usage: scripts/test-sdk-cpp.sh [BUILD_DIR]    (scripts/test.sh passes its optimized build folder)
# Env: TANDEM_BIN runs the deployment with another `tandem` binary (default BUILD_DIR/cli/tandem).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
BIN="${TANDEM_BIN:-$BUILD/cli/tandem}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tandem-sdk-cpp.XXXXXX")"
CONFIG="$WORK/deployment.yaml"
cleanup() {
  if [[ -f "$CONFIG" ]]; then "$BIN" down "$CONFIG" --grace 5 >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "[test-sdk-cpp] (${SECONDS}s) install $BUILD into $WORK/prefix"
# Up to date already when scripts/test.sh built everything; cheap otherwise.
TARGETS=(tandem_client)
if [[ -z "${TANDEM_BIN:-}" ]]; then TARGETS+=(tandem); fi
cmake --build "$BUILD" --target "${TARGETS[@]}" >/dev/null
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
test -f "$WORK/prefix/lib/cmake/tandem/tandemConfig.cmake"
test -f "$WORK/prefix/include/tandem/sdk/strategy_options.h"

echo "[test-sdk-cpp] (${SECONDS}s) build sdk/cpp/examples against the installed package"
LAUNCHER=()
if command -v ccache >/dev/null; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$ROOT/sdk/cpp/examples" -B "$WORK/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" "${LAUNCHER[@]}" >/dev/null
cmake --build "$WORK/examples" >/dev/null

echo "[test-sdk-cpp] (${SECONDS}s) start a deployment (TLS, bearer token)"
bash "$ROOT/scripts/make-dev-certs.sh" "$WORK/certs" >/dev/null
read -r P_TARGET P_DRAFT P_REWARD P_RETRIEVAL P_ORCH < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
# One compute thread per service: CI shares two cores between five processes. The draft is the
# target model, so greedy speculative output must equal target_only's (live_check checks it).
cat > "$CONFIG" <<YAML
name: sdk-cpp-test-$P_ORCH
log_dir: $WORK/logs
tls: {cert: $WORK/certs/server.crt, key: $WORK/certs/server.key, ca: $WORK/certs/ca.crt}
auth: {token_file: $WORK/certs/token}
services:
  - {name: target, role: target, model: smollm2-135m, grpc_port: $P_TARGET, threads: 1, kv_budget_mb: 256}
  - {name: draft, role: draft, model: smollm2-135m, grpc_port: $P_DRAFT, threads: 1, kv_budget_mb: 128}
  - {name: reward, role: reward, model: smollm2-135m, grpc_port: $P_REWARD, threads: 1}
  - {name: retrieval, role: retrieval, model: smollm2-135m, embedder: all-minilm-l6-v2,
     data_dir: $WORK/retrieval, grpc_port: $P_RETRIEVAL, threads: 1}
  - {name: orchestrator, role: orchestrator, model: smollm2-135m, grpc_port: $P_ORCH, drafter: model,
     draft: draft, target: target, reward: reward, retrieval: retrieval, default_strategy: speculative}
YAML
if ! "$BIN" up "$CONFIG" --timeout 300; then
  tail -n 20 "$WORK"/logs/*.log || true
  exit 1
fi

echo "[test-sdk-cpp] (${SECONDS}s) examples/generate"
TANDEM_TLS_CA="$WORK/certs/ca.crt" TANDEM_API_TOKEN="$(cat "$WORK/certs/token")" \
  "$WORK/examples/generate" "127.0.0.1:$P_ORCH" "What is 2 + 2?"
echo "[test-sdk-cpp] (${SECONDS}s) examples/live_check"
"$WORK/examples/live_check" "127.0.0.1:$P_ORCH" "127.0.0.1:$P_REWARD" "127.0.0.1:$P_RETRIEVAL" \
  "$WORK/certs/ca.crt" "$WORK/certs/token"
echo "[test-sdk-cpp] (${SECONDS}s) passed"
