#!/usr/bin/env bash
# Makes a local stand-in for node:24-bookworm / node:24-slim where Docker Hub is out of reach (this
# machine reaches only Debian and npm): a Debian bookworm minbase root filesystem from
# mmdebstrap, plus this checkout's Node 24 binary (the npm package `node`) and the host's npm,
# imported with `podman import`. The Dockerfiles take it through --build-arg NODE_IMAGE /
# NODE_SLIM_IMAGE. Idempotent: an existing image of that name is kept.
#   tests/images/make-base.sh [IMAGE]   (default localhost/weft-node-base:24)
# Needs root, mmdebstrap and podman (apt-get install mmdebstrap podman buildah).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:-localhost/weft-node-base:24}
if podman image exists "$name"; then echo "make-base: $name exists"; exit 0; fi
node_bin=$(realpath node_modules/node/bin/node)
"$node_bin" --version | grep -q '^v24\.' || { echo "make-base: $node_bin is not Node 24" >&2; exit 1; }
npm_dir=$(dirname "$(dirname "$(realpath "$(command -v npm)")")")
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "make-base: npm not found at $npm_dir" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --variant=minbase --include=ca-certificates,libstdc++6 \
  --customize-hook="upload $node_bin /usr/local/bin/node" \
  --customize-hook='chmod 0755 "$1/usr/local/bin/node"; mkdir -p "$1/usr/local/lib/node_modules"' \
  --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"; rm -rf "$1"/var/lib/apt/lists/*' \
  bookworm "$tmp/base.tar"
podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tmp/base.tar" "$name"
echo "make-base: imported $name"
