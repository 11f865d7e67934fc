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

echo "[test-sdk] the sdist carries the .proto files and builds outside the repository"
# The build requirements come from pyproject.toml and go into this venv once (--no-isolation),
# which saves two isolated build environments; `build` unpacks the sdist into a temporary folder
# where ../../proto does not exist, so the wheel can only come from the sdist's own copy.
"$WORK/venv/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' \
  "$ROOT/sdk/python/pyproject.toml" > "$WORK/build-requirements.txt"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check -r "$WORK/build-requirements.txt"
"$WORK/venv/bin/python" -m build -q --no-isolation -o "$WORK/dist" "$ROOT/sdk/python" >/dev/null
"$WORK/venv/bin/python" - "$WORK"/dist/*.whl <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
stubs = [n for n in names if n.startswith("tandem/_proto/tandem/v1/") and n.endswith("_pb2_grpc.py")]
assert "tandem/_proto/tandem/v1/generation_pb2_grpc.py" in stubs, f"no generated stubs in the wheel: {names}"
print(f"[test-sdk] wheel built from the sdist: {len(stubs)} stub modules")
PY

BIN="$BUILD/cli/tandem"
if [[ -x "$BIN" ]]; then
  echo "[test-sdk] live tests use $BIN"
else
  echo "[test-sdk] no $BIN: live tests skip"
  BIN=""
fi
# From the tests folder, so that only the installed package (not sdk/python/src) is importable.
cd "$ROOT/sdk/python"
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --tandem-bin="$BIN" -rs tests
