#!/usr/bin/env bash
# One-time (idempotent) setup of a fresh Debian 12 machine for tandem:
#   1. Debian packages (compilers' libraries, gRPC, protobuf, Abseil, ...)
#   2. a project virtualenv in .venv with the Python tooling (test oracles)
#   3. the bundled models into the model cache (default ~/.cache/tandem/models)
# Usage: scripts/setup.sh [--models NAME...|all] [--bench]
#   --models   which bundled models to fetch (default: smollm2-135m all-minilm-l6-v2; see scripts/models.tsv)
#   --bench    also install benchmark-only tools (llama-cpp-python and llama.cpp's llama-bench /
#              llama-speculative-simple, built from the pinned sdist's source)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODELS=(smollm2-135m all-minilm-l6-v2)
BENCH=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) shift; MODELS=(); while [[ $# -gt 0 && "$1" != --* ]]; do MODELS+=("$1"); shift; done; continue ;;
    --bench) BENCH=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git unzip ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto libabsl-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev libhnswlib-dev
  libfaiss-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  python3 python3-venv python3-pip python3-grpcio python3-protobuf prometheus ccache
  clang libclang-rt-dev openssl
)

step() { echo "[setup] $*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# Debian's python3 sees python3-grpcio/python3-protobuf; the venv inherits them.
if [[ ! -x .venv/bin/python ]]; then
  step "creating virtualenv .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
step "installing Python requirements into .venv"
# requirements.txt plus one requirements-AREA.txt per test area (deploy, sdk, ...);
# requirements-bench.txt is opt-in (--bench) because it builds llama.cpp.
for req in scripts/requirements.txt scripts/requirements-*.txt; do
  [[ "$req" == scripts/requirements-bench.txt ]] && continue
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
done
if [[ $BENCH -eq 1 ]]; then
  step "installing benchmark tools (llama-cpp-python builds llama.cpp from source: several minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-bench.txt
  step "building llama.cpp's llama-bench and llama-speculative-simple from the same sdist (bench/build_llama_cpp.sh)"
  bench/build_llama_cpp.sh
fi

step "fetching models: ${MODELS[*]}"
.venv/bin/python scripts/fetch_models.py "${MODELS[@]}"
step "done"
