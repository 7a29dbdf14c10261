#!/usr/bin/env bash
# The real-node tier in one command (npm run test:node): installs the Debian packages the node
# needs if any is missing (saying so), then runs tests/node/node-mesh.test.ts with WEFT_NODE_TESTS=1.
# It is not in scripts/setup.sh because the tier is not part of CI (see tests/node/README.md).
#   scripts/node-tier.sh                       build the images, start the node, run the checks
#   WEFT_NODE_REUSE_IMAGES=1 scripts/node-tier.sh   import existing localhost/weft-{agent,control}:0.1.0
#   WEFT_NODE_SCOPE=node scripts/node-tier.sh       the chart's redirect.scope (default pod)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "node-tier: needs root (containerd, kubelet, iptables)" >&2; exit 1; }
need=()
for pair in containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge \
  buildah:/usr/bin/buildah podman:/usr/bin/podman mmdebstrap:/usr/bin/mmdebstrap tcpdump:/usr/bin/tcpdump \
  conntrack:/usr/sbin/conntrack gcc:/usr/bin/gcc libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a etcd-server:/usr/bin/etcd iptables:/usr/sbin/iptables xz-utils:/usr/bin/xz; do
  pkg=${pair%%:*}; file=${pair#*:}
  [ -e "$file" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "node-tier: installing the Debian packages the node needs: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
export PATH="$PWD/node_modules/.bin:$PATH"
start=$(date +%s)
WEFT_NODE_TESTS=1 tap --reporter=tap --timeout=1800 tests/node/node-mesh.test.ts
echo "node-tier: whole tier $(( $(date +%s) - start )) s"
