#!/usr/bin/env bash
# Tests of the Python SDK (sdk/python): installs it with `pip install ./sdk/python` into a fresh
# virtualenv (no system site packages: only PyPI dependencies, stubs generated at build time), then
# runs its pytest suite: unit tests against an in-process fake server, and live tests against a real
# `tandem up` deployment when BUILD_DIR/cli/tandem exists.
# Usage: scripts/test-sdk.sh [BUILD_DIR]    (scripts/test.sh passes its optimized build folder)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
PYTHON="${PYTHON:-/usr/bin/python3}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tandem-sdk-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "[test-sdk] fresh virtualenv in $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
# setuptools reuses sdk/python/build between in-tree builds; start clean so that no stale module ships.
rm -rf "$ROOT/sdk/python/build" "$ROOT"/sdk/python/src/*.egg-info
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "$ROOT/sdk/python" -r "$ROOT/scripts/requirements-sdk.txt"

BIN="$BUILD/cli/tandem"
if [[ -x "$BIN" ]]; then
  echo "[test-sdk] live tests use $BIN"
else
  echo "[test-sdk] no $BIN: live tests skip"
  BIN=""
fi
# From the tests folder, so that only the installed package (not sdk/python/src) is importable.
cd "$ROOT/sdk/python"
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --tandem-bin "$BIN" -rs tests
