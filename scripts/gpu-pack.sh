#!/usr/bin/env bash
# Builds the GPU check's binaries here and packs them, with the shared
# libraries they need that a bare CUDA machine lacks (Abseil, the CUDA
# runtime), into one folder that travels to a GPU machine which has the
# driver and nvcc but not tandem's build dependencies. There,
# `scripts/gpu-check.sh --prebuilt --build DIR` runs them. cuBLAS (over
# 500 MB) is not packed: gpu-check.sh takes the GPU machine's own.
#
# Usage: scripts/gpu-pack.sh [DIR] [CUDA_ARCH]   (defaults: .gpu-carry, 90)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIR="${1:-.gpu-carry}"; ARCH="${2:-90}"; BUILD=build-gpu
export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc >/dev/null || { echo "gpu-pack: nvcc not found" >&2; exit 1; }
TARGETS=(gpu_matvec_test gpu_matvec_int8_test gpu_backend_test gpu_spec_invariance_test gpu_graph_test gpu_decode_bench
         backend_factory_test device_dequant_host_test)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON -DTANDEM_BUILD_SERVICES=OFF \
  -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" >/dev/null
ninja -C "$BUILD" -j "${JOBS:-$(nproc)}" "${TARGETS[@]}"
rm -rf "$DIR"; mkdir -p "$DIR/tests/kernels/cuda" "$DIR/lib"
for t in "${TARGETS[@]}"; do
  cp "$BUILD/tests/kernels/cuda/$t" "$DIR/tests/kernels/cuda/"
  strip --strip-debug "$DIR/tests/kernels/cuda/$t"
done
# Every resolved library outside the C runtime and cuBLAS.
for t in "${TARGETS[@]}"; do ldd "$DIR/tests/kernels/cuda/$t"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so|libcublas' |
  while read -r lib; do cp -L "$lib" "$DIR/lib/"; done
git rev-parse --short HEAD >"$DIR/commit" 2>/dev/null || true
du -sh "$DIR"
