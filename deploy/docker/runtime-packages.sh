#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries a binary loads (from ldd), one per
# line: the runtime stage installs exactly these instead of the -dev packages of the build.
# Usage: runtime-packages.sh BINARY
# RUNTIME_PACKAGES_SKIP=DIR leaves out libraries under DIR, which the caller ships itself (the
# CUDA image copies the toolkit's libraries: deploy/docker/cuda-libs.sh).
set -euo pipefail
bin="${1:?usage: runtime-packages.sh BINARY}"
skip="${RUNTIME_PACKAGES_SKIP:+$(readlink -f "$RUNTIME_PACKAGES_SKIP")}"
if ldd "$bin" | grep -q "not found"; then
  echo "runtime-packages.sh: $bin has unresolved libraries:" >&2
  ldd "$bin" | grep "not found" >&2
  exit 1
fi
ldd "$bin" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | sort -u | while read -r lib; do
  if [[ -n "$skip" && "$(readlink -f "$lib")" == "$skip"/* ]]; then continue; fi
  # Debian 12 is usr-merged: ldd may report /lib/... for a file dpkg lists as /usr/lib/... (or
  # the other way round), and a symlink's target may be the listed path.
  for candidate in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
    if pkg="$(dpkg-query -S "$candidate" 2>/dev/null)"; then
      echo "${pkg%%:*}"
      continue 2
    fi
  done
  echo "runtime-packages.sh: no Debian package owns $lib" >&2
  exit 1
done | sort -u
