#!/usr/bin/env bash
# Builds agent/native/build/weft_native.node (IP_TRANSPARENT listeners) with plain cc: the addon
# declares the N-API functions it uses, so no Node headers or node-gyp are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
src=agent/native/transparent.c
out=agent/native/build/weft_native.node
command -v "${CC:-cc}" >/dev/null 2>&1 || { echo "build-native: no C compiler (${CC:-cc}); install gcc" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
# Up to date: nothing to do (tests call this before using the addon).
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
# Undefined napi_* symbols are resolved against the node binary when the addon is loaded.
"${CC:-cc}" -shared -fPIC -O2 -Wall -Wextra -fvisibility=hidden -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
echo "build-native: built $out"
