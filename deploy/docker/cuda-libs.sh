#!/usr/bin/env bash
# Copies the shared libraries a binary loads from the CUDA toolkit (found with ldd, under
# CUDA_ROOT) into OUT_DIR under their sonames: the CUDA runtime image ships exactly these
# (libcudart, libcublas, libcublasLt for `tandem`), taken from the toolkit of the build machine.
# The driver library (libcuda.so) is not among them: the NVIDIA container toolkit mounts the
# node's own into GPU containers.
# Usage: cuda-libs.sh BINARY CUDA_ROOT OUT_DIR
set -euo pipefail
bin="${1:?usage: cuda-libs.sh BINARY CUDA_ROOT OUT_DIR}"
root="$(readlink -f "${2:?usage: cuda-libs.sh BINARY CUDA_ROOT OUT_DIR}")"
out="${3:?usage: cuda-libs.sh BINARY CUDA_ROOT OUT_DIR}"
mkdir -p "$out"
copied=0
while read -r soname path; do
  real="$(readlink -f "$path")"
  if [[ "$real" == "$root"/* ]]; then
    cp "$real" "$out/$soname"
    echo "$soname"
    copied=$((copied + 1))
  fi
done < <(ldd "$bin" | awk '/=> \// {print $1, $3}')
if [[ $copied -eq 0 ]]; then
  echo "cuda-libs.sh: $bin loads nothing from $root (not a -DTANDEM_CUDA=ON build?)" >&2
  exit 1
fi
