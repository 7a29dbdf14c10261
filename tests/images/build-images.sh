#!/usr/bin/env bash
# Builds the agent and control images with buildah exactly as docs/install.md says (context: the
# repository root, its .dockerignore, the host's CA bundle as the `host-ca` secret), on the local
# base from make-base.sh unless NODE_IMAGE / NODE_SLIM_IMAGE name other bases, and prints each
# build's wall time. tests/images/image-build.test.ts runs it and lists what the images hold.
#   tests/images/build-images.sh [TAG]   (default test: localhost/weft-agent:test, localhost/weft-control:test)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-test}
base=${NODE_IMAGE:-localhost/weft-node-base:24}
slim=${NODE_SLIM_IMAGE:-$base}
ca=${WEFT_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
[ "$base" != localhost/weft-node-base:24 ] || bash tests/images/make-base.sh "$base"
for image in agent control; do
  start=$(date +%s)
  # --network host: the RUN steps fetch from Debian and npm the way this host does. --isolation
  # chroot: buildah's default OCI runtime (crun) cannot create containers on a host whose cgroups
  # are in hybrid mode ("cgroups in hybrid mode not supported"), as on this machine.
  buildah bud --isolation chroot --layers --network host --secret "id=host-ca,src=$ca" \
    --build-arg "NODE_IMAGE=$base" --build-arg "NODE_SLIM_IMAGE=$slim" \
    -f "docker/Dockerfile.$image" -t "localhost/weft-$image:$tag" .
  echo "build-images: localhost/weft-$image:$tag built in $(( $(date +%s) - start )) s"
done
