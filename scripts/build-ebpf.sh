#!/usr/bin/env bash
# Compiles the eBPF programs (ebpf/*.c, one per hook) into ebpf/build/*.o with clang -target bpf.
# The programs use only UAPI context structs (__sk_buff, bpf_sock), so plain kernel headers and
# libbpf's bpf_helpers.h suffice: no vmlinux.h, no CO-RE relocations. Needs Debian clang and
# libbpf-dev (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
out=ebpf/build
command -v clang >/dev/null 2>&1 || { echo "build-ebpf: clang missing; apt-get install clang" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build-ebpf: bpf/bpf_helpers.h missing; apt-get install libbpf-dev" >&2; exit 1; }
mkdir -p "$out"
arch_inc=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
for src in ebpf/*.c; do
  obj=$out/$(basename "${src%.c}").o
  # Up to date: nothing to do (tests call this before loading).
  if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt ebpf/include/weft-redirect.h ] && [ "$obj" -nt ebpf/include/weft-podns.h ] && [ "$obj" -nt "$0" ]; then continue; fi
  clang -O2 -g -Wall -Werror -target bpf -I"$arch_inc" -c "$src" -o "$obj.tmp"
  mv "$obj.tmp" "$obj"
  echo "build-ebpf: built $obj"
done
