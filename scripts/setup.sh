#!/usr/bin/env bash
# Installs what Weft's tests and sandbox need on a fresh Debian bookworm machine: Debian packages
# (iptables, nftables, tcpdump, iproute2; unzip and openssl for the chart tests; haproxy, the bench's
# peer; chromium for the dashboard browser tests; etcd-server and xz-utils for the real Kubernetes
# control plane of tests/kube/; nghttp2-client for h2load, the HTTP/2 load client of the mesh
# tests) and the npm packages, Node 24 among them. Idempotent:
# a second run only checks. Fails with a clear message where it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
for pair in iptables:iptables nft:nftables tcpdump:tcpdump ip:iproute2 prlimit:util-linux cc:gcc clang:clang bpftool:bpftool /usr/include/bpf/bpf_helpers.h:libbpf-dev unzip:unzip openssl:openssl haproxy:haproxy chromium:chromium etcd:etcd-server xz:xz-utils h2load:nghttp2-client; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] || need_debs+=("$pkg"); continue; fi  # a file, not a command
  command -v "$cmd" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ${need_debs[*]} and not root: run 'sudo apt-get install ${need_debs[*]}'" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || { echo "setup: apt-get update failed: is Debian's archive reachable?" >&2; exit 1; }
  apt-get install -y -q "${need_debs[@]}" >/dev/null || { echo "setup: apt-get install ${need_debs[*]} failed" >&2; exit 1; }
fi

# The stamp holds the lock file's hash: a checkout with a newer mtime but the same lock (a git
# worktree sharing node_modules) must not wipe and reinstall.
stamp=node_modules/.weft-setup
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund >/dev/null 2>npm-ci.log || { echo "setup: npm ci failed, see npm-ci.log" >&2; tail -20 npm-ci.log >&2; exit 1; }
  rm -f npm-ci.log
  echo "$lock_hash" > "$stamp"
fi
node_bin=node_modules/node/bin/node
[ -x "$node_bin" ] || { echo "setup: Node 24 (npm package node@24) did not install: $node_bin missing" >&2; exit 1; }
v=$("$node_bin" --version)
case "$v" in v24.*) ;; *) echo "setup: expected Node 24 from the node@24 package, got $v" >&2; exit 1 ;; esac
