// A private BPF filesystem per test: the machine has none at /sys/fs/bpf, and `ip netns exec`
// replaces /sys anyway, so agents in testbed nodes pin under a bpffs mounted outside /sys (mount
// namespaces made later by `ip netns exec` inherit it). Unmounting drops every pin left in it.
import { mkdir, rmdir } from 'node:fs/promises';
import { run, runOk } from '../testbed/run.ts';

export const BPFFS_BASE = '/run/weft-ebpf';

/** Mounts a fresh bpffs at /run/weft-ebpf/<name>; unmount() removes it and all pins in it. */
export async function mountBpffs(name: string): Promise<{ path: string; unmount: () => Promise<void> }> {
  if (!/^ebpf-[a-z0-9-]+$/.test(name)) throw new Error(`bpffs name ${name} must start with ebpf-`);
  const path = `${BPFFS_BASE}/${name}`;
  await mkdir(path, { recursive: true });
  // A crashed earlier run may have left its mount: start from an empty one.
  while ((await run('mountpoint', ['-q', path])).code === 0) await runOk('umount', [path]);
  await runOk('mount', ['-t', 'bpf', 'bpf', path]);
  let done = false;
  return {
    path,
    async unmount() {
      if (done) return;
      done = true;
      while ((await run('mountpoint', ['-q', path])).code === 0) await runOk('umount', ['-l', path]);
      await rmdir(path).catch(() => {});
    },
  };
}

/** Every pin file under a pin root (recursively), for leftover checks. */
export async function listPins(root: string): Promise<string[]> {
  const r = await run('find', [root, '-mindepth', '1']);
  // maps.debug and progs.debug are the kernel's own preloaded iterators in every bpffs.
  return r.stdout.split('\n').filter((l) => l !== '' && !/^[^/]*\.debug$/.test(l.slice(root.length + 1)));
}

/**
 * The bed a BPF_PROG_RUN test needs: a network namespace named `name` with `addresses` on its lo
 * (the tuples the programs look up), a private bpffs and a maps folder in it — all removed by
 * the test's teardown. `inNs` runs a command in the namespace.
 */
export async function progRunBed(
  t: { teardown(fn: () => unknown): void }, name: string, addresses: readonly string[],
): Promise<{ ns: string; fsPath: string; mapDir: string; inNs: (cmd: string, args: string[]) => Promise<string> }> {
  await run('ip', ['netns', 'del', name]);
  await runOk('ip', ['netns', 'add', name]);
  t.teardown(() => run('ip', ['netns', 'del', name]));
  const inNs = (cmd: string, args: string[]) => runOk('ip', ['netns', 'exec', name, cmd, ...args]);
  await inNs('ip', ['link', 'set', 'lo', 'up']);
  for (const ip of addresses) await inNs('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
  const fs = await mountBpffs(name);
  t.teardown(() => fs.unmount());
  const mapDir = `${fs.path}/maps`;
  await mkdir(mapDir, { recursive: true });
  return { ns: name, fsPath: fs.path, mapDir, inNs };
}
