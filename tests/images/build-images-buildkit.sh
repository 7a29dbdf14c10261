#!/usr/bin/env bash
# Builds the agent and control images with Docker BuildKit, exactly as docs/install.md's
# `docker build` lines say (context: the repository root, its .dockerignore, the host's CA bundle
# as the `host-ca` secret), on the same local base as build-images.sh, and hands the results to
# podman's store as localhost/weft-{agent,control}:TAG so image-build.test.ts lists them the same
# way as the buildah ones. Prints each build's wall time.
#   tests/images/build-images-buildkit.sh [TAG]   (default test-buildkit)
#
# There is no Docker engine on these machines, so the script starts a private one for the build
# (Debian's docker.io: dockerd 20.10, whose embedded BuildKit is the builder) — its own socket,
# data and exec roots named weft-images-buildkit, no iptables, no bridge, cgroupfs — and stops it
# on exit. Its data root is kept as the build cache, like buildah's layers.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-test-buildkit}
base=${NODE_IMAGE:-localhost/weft-node-base:24}
ca=${WEFT_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
name=weft-images-buildkit
sock=/run/$name.sock
if ! command -v dockerd >/dev/null; then
  echo "build-images-buildkit: installing Debian's docker.io (dockerd with BuildKit)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >/dev/null ||
    { echo "WEFT_ERR_TOOL_MISSING: dockerd not found and apt-get install docker.io failed" >&2; exit 1; }
fi
# Debian's client (20.10) drives the daemon's BuildKit itself; a newer client would want buildx.
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)
[ "$base" != localhost/weft-node-base:24 ] || bash tests/images/make-base.sh "$base"

mkdir -p "/var/lib/$name" "/run/$name"
dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
  --exec-opt native.cgroupdriver=cgroupfs --data-root "/var/lib/$name" --exec-root "/run/$name" \
  --host "unix://$sock" --pidfile "/run/$name.pid" >"/run/$name/dockerd.log" 2>&1 &
daemon=$!
stop() {
  kill "$daemon" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$daemon" 2>/dev/null || true
  rm -f "$sock" "/run/$name.pid"
}
trap stop EXIT
export DOCKER_HOST=unix://$sock DOCKER_BUILDKIT=1
for _ in $(seq 100); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
"$docker" version >/dev/null 2>&1 || { echo "WEFT_ERR_TOOL_MISSING: the private dockerd did not start:" >&2; tail -20 "/run/$name/dockerd.log" >&2; exit 1; }

# The base comes from podman's store (make-base.sh); BuildKit resolves FROM against the daemon's images.
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then podman save --format docker-archive "$base" 2>/dev/null | "$docker" load >/dev/null; fi
for image in agent control; do
  start=$(date +%s)
  # --network host: the RUN steps fetch from Debian and npm the way this host does (no bridge here).
  "$docker" build --network host --secret "id=host-ca,src=$ca" \
    --build-arg "NODE_IMAGE=$base" --build-arg "NODE_SLIM_IMAGE=${NODE_SLIM_IMAGE:-$base}" \
    -f "docker/Dockerfile.$image" -t "localhost/weft-$image:$tag" .
  echo "build-images: localhost/weft-$image:$tag built with BuildKit in $(( $(date +%s) - start )) s"
  "$docker" save "localhost/weft-$image:$tag" | podman load >/dev/null
done
