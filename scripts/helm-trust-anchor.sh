#!/usr/bin/env bash
# Makes the mesh's trust anchor (an ECDSA P-256 root CA; Helm's genCA only makes RSA) and prints
# the two objects the chart expects, for `kubectl apply -f -`:
#   Secret    weft-trust-anchor  (ca.crt + ca.key; mounted into control only)
#   ConfigMap weft-trust-bundle  (ca.crt only; mounted into the agents)
# Usage: scripts/helm-trust-anchor.sh [--namespace weft-system] [--trust-domain cluster.local] [--days 3650] [--out-dir DIR]
#   --out-dir also keeps ca.crt and ca.key there (mode 0600) for your own backup; by default the
#   key exists only in the printed Secret.
set -euo pipefail
ns=weft-system; td=cluster.local; days=3650; out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) ns=$2; shift 2 ;;
    --trust-domain) td=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    *) echo "WEFT_ERR_USAGE: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "WEFT_ERR_TOOL_MISSING: openssl not found; install it (Debian: apt-get install openssl)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -out "$tmp/ca.crt" \
  -subj "/O=weft/CN=weft root ${td}" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null
if [ -n "$out_dir" ]; then
  mkdir -p "$out_dir"; cp "$tmp/ca.crt" "$tmp/ca.key" "$out_dir/"
fi
b64() { base64 -w0 < "$1"; }
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: weft-trust-anchor
  namespace: ${ns}
  labels:
    app.kubernetes.io/part-of: weft
type: Opaque
data:
  ca.crt: $(b64 "$tmp/ca.crt")
  ca.key: $(b64 "$tmp/ca.key")
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: weft-trust-bundle
  namespace: ${ns}
  labels:
    app.kubernetes.io/part-of: weft
data:
  ca.crt: |
$(sed 's/^/    /' "$tmp/ca.crt")
YAML
