#!/usr/bin/env bash
# Builds agent/native/build/weft_native.node (IP_TRANSPARENT listeners, sockets in pod namespaces)
# with plain cc — the addon declares the N-API functions it uses, so no Node headers or node-gyp
# are needed — and agent/native/build/weft-cni, the chained CNI plugin (static: any node's libc).
set -euo pipefail
cd "$(dirname "$0")/.."
src=agent/native/transparent.c
out=agent/native/build/weft_native.node
command -v "${CC:-cc}" >/dev/null 2>&1 || { echo "build-native: no C compiler (${CC:-cc}); install gcc" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cni_src=agent/native/weft-cni.c
cni_out=agent/native/build/weft-cni
if ! { [ -f "$cni_out" ] && [ "$cni_out" -nt "$cni_src" ] && [ "$cni_out" -nt "$0" ]; }; then
  # Static where the toolchain has a static libc; dynamic otherwise (still runs on this machine).
  if ! "${CC:-cc}" -static -O2 -Wall -Wextra -o "$cni_out.tmp" "$cni_src" 2>/dev/null; then
    "${CC:-cc}" -O2 -Wall -Wextra -o "$cni_out.tmp" "$cni_src"
  fi
  mv "$cni_out.tmp" "$cni_out"
  echo "build-native: built $cni_out"
fi
# Up to date: nothing to do (tests call this before using the addon).
trim_src=agent/native/malloc-trim.c
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$trim_src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
# Undefined napi_* symbols are resolved against the node binary when the addon is loaded.
"${CC:-cc}" -shared -fPIC -O2 -Wall -Wextra -fvisibility=hidden -o "$out.tmp" "$src" "$trim_src"
mv "$out.tmp" "$out"
echo "build-native: built $out"
