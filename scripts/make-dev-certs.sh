#!/usr/bin/env bash
# Makes a local CA and certificates for TLS / mutual TLS between tandem's
# services, for the demo (deploy/local-tls.yaml), the tests and a dev cluster.
# NOT for production: the CA key sits next to the certificates, unencrypted.
#
# Usage: scripts/make-dev-certs.sh OUT_DIR [--release NAME] [--namespace NS] [--san DNS_OR_IP ...]
#   OUT_DIR/ca.crt, ca.key          the CA (verifies every peer)
#   OUT_DIR/server.crt, server.key  served by every service and shown as the
#                                   client certificate under mutual TLS
#                                   (serverAuth + clientAuth)
#   OUT_DIR/client.crt, client.key  a client-only certificate (CLI, SDK)
#   OUT_DIR/token                   a random bearer token for the public API
#   OUT_DIR/tls-secret.yaml         the Helm chart's Secret (tls.crt, tls.key, ca.crt)
# SANs: 127.0.0.1, ::1, localhost, and the Helm chart's service names: NAME is
# the chart's fullname (the release name when it contains "tandem", else
# RELEASE-tandem; default "tandem"), giving NAME-orchestrator, NAME-target, ...
# in short, .NS, .NS.svc and .NS.svc.cluster.local forms; plus any --san.
# Existing files are kept (rerunning is a no-op); delete OUT_DIR to renew.
set -euo pipefail

usage() { sed -n '2,18p' "$0"; }
[[ $# -ge 1 && "$1" != -* ]] || { usage >&2; exit 2; }
OUT="$1"; shift
RELEASE=tandem; NAMESPACE=default; EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --release) RELEASE="$2"; shift 2 ;;
    --namespace) NAMESPACE="$2"; shift 2 ;;
    --san) EXTRA+=("$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make-dev-certs.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "make-dev-certs.sh: openssl is required (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$OUT"
umask 077  # keys readable by the owner only
cd "$OUT"
if [[ -s ca.crt && -s server.crt && -s client.crt && -s token ]]; then
  echo "make-dev-certs.sh: $OUT already has certificates (delete it to renew)"
  exit 0
fi

sans="DNS:localhost,IP:127.0.0.1,IP:::1"
for role in orchestrator draft target reward retrieval gateway; do
  svc="$RELEASE-$role"
  sans+=",DNS:$svc,DNS:$svc.$NAMESPACE,DNS:$svc.$NAMESPACE.svc,DNS:$svc.$NAMESPACE.svc.cluster.local"
done
for s in "${EXTRA[@]}"; do
  if [[ "$s" =~ ^[0-9.]+$ || "$s" == *:* ]]; then sans+=",IP:$s"; else sans+=",DNS:$s"; fi
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=tandem dev CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() {  # issue NAME CN EXTENDED_KEY_USAGE SANS
  local name="$1" cn="$2" eku="$3" san="$4"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
issue server "tandem service" "serverAuth,clientAuth" "$sans"
issue client "tandem client" "clientAuth" "DNS:tandem-client"
rm -f ca.srl
openssl rand -hex 32 > token

b64() { base64 -w0 < "$1"; }
cat > tls-secret.yaml <<YAML
# kubectl apply -n $NAMESPACE -f tls-secret.yaml; then helm install ... --set tls.enabled=true --set tls.secretName=$RELEASE-tls
apiVersion: v1
kind: Secret
metadata:
  name: $RELEASE-tls
type: kubernetes.io/tls
data:
  tls.crt: $(b64 server.crt)
  tls.key: $(b64 server.key)
  ca.crt: $(b64 ca.crt)
YAML
openssl verify -CAfile ca.crt server.crt client.crt >/dev/null
echo "make-dev-certs.sh: CA, server and client certificates and a bearer token in $OUT"
