#!/usr/bin/env bash
# tandem's main job in one command, from a clean clone:
#   1. setup (scripts/setup.sh: Debian packages, .venv, the SmolLM2-135M model)
#   2. optimized build of the `tandem` binary (build/)
#   3. `tandem up deploy/local.yaml`: target, draft and orchestrator services
#      as local processes on loopback, health-checked until SERVING
#   4. a speculative generation streamed through the orchestrator, then the
#      acceptance statistics (per request and from the orchestrator's /metrics)
#   5. `tandem down` (also on failure or Ctrl-C)
# Usage: scripts/demo.sh [--no-setup] [--config FILE] [--max-tokens N] [PROMPT]
# Env: JOBS (build parallelism, default nproc), TANDEM_MODEL_DIR (model cache).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SETUP=1
CONFIG=deploy/local.yaml
MAX_TOKENS=96
PROMPT="Explain in three sentences why the sky is blue."
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-setup) SETUP=0 ;;
    --config) shift; CONFIG="$1" ;;
    --max-tokens) shift; MAX_TOKENS="$1" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    --*) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    *) PROMPT="$1" ;;
  esac
  shift
done
JOBS="${JOBS:-$(nproc)}"
step() { echo; echo "=== [demo] $*"; }

if [[ $SETUP -eq 1 ]]; then
  step "setup"
  scripts/setup.sh
fi

step "build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j "$JOBS" tandem
TANDEM="$ROOT/build/cli/tandem"

step "tandem up $CONFIG"
trap '"$TANDEM" down "$CONFIG" >/dev/null 2>&1 || true' EXIT
UP_OUT="$("$TANDEM" up "$CONFIG")"
echo "$UP_OUT"
# The orchestrator's row of the table: SERVICE ROLE GRPC METRICS LOG.
read -r _ _ ORCH METRICS_URL _ < <(echo "$UP_OUT" | awk '$2 == "orchestrator"' | head -n 1)
[[ -n "${ORCH:-}" ]] || { echo "demo.sh: no orchestrator in $CONFIG" >&2; exit 1; }

step "speculative generation through the orchestrator at $ORCH"
echo "prompt: $PROMPT"
echo
"$TANDEM" generate --server "$ORCH" --strategy speculative --param gamma=4 --temperature 0 \
  --max-tokens "$MAX_TOKENS" --chat "$PROMPT"

if [[ "${METRICS_URL:-}" == http://* ]]; then
  step "acceptance counters from $METRICS_URL"
  hostport="${METRICS_URL#http://}"; hostport="${hostport%%/*}"
  # Plain bash HTTP GET (no curl needed on a fresh machine).
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
  printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3
  grep -E '^tandem:spec_decode_num_(drafts|draft_tokens|accepted_tokens)_total|^tandem:spec_decode_num_accepted_tokens_per_pos_total' <&3 || true
  exec 3<&-
fi

step "tandem down"
trap - EXIT
"$TANDEM" down "$CONFIG"
