// Installs the weft-cni plugin on the node (pod scope, when the chart gives the host's CNI
// directories): the executable copied into the CNI bin dir and chained last in the runtime's
// conflist, each written to a temporary file and renamed, so the runtime never reads half a file.
// Removed again on drain (an uninstalled agent must not leave a plugin that fails every ADD).
import { chmod, copyFile, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chainWeftCni, PLUGIN_TYPE, primaryConflist, unchainWeftCni } from './cni-conflist.ts';

export interface CniInstallOptions {
  /** The weft-cni executable shipped with the agent. */
  source: string;
  /** The host's CNI bin dir (/opt/cni/bin) as mounted. */
  binDir: string;
  /** The host's CNI conf dir (/etc/cni/net.d) as mounted. */
  confDir: string;
}

async function writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.weft-tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** Copies the plugin and chains it; returns the conflist it chained into. */
export async function installCniPlugin(o: CniInstallOptions): Promise<string> {
  const bin = join(o.binDir, PLUGIN_TYPE);
  await copyFile(o.source, `${bin}.weft-tmp`);
  await chmod(`${bin}.weft-tmp`, 0o755);
  await rename(`${bin}.weft-tmp`, bin);
  const name = primaryConflist(await readdir(o.confDir));
  if (name === undefined) throw new Error(`no .conflist in ${o.confDir}: the node's CNI has not written its configuration yet`);
  const file = join(o.confDir, name);
  const next = chainWeftCni(await readFile(file, 'utf8'), file);
  if (next !== undefined) await writeAtomic(file, next, 0o644);
  return file;
}

/** Unchains the plugin from every conflist and removes the executable. Idempotent. */
export async function uninstallCniPlugin(o: Omit<CniInstallOptions, 'source'>): Promise<void> {
  for (const name of await readdir(o.confDir).catch(() => [] as string[])) {
    if (!name.endsWith('.conflist')) continue;
    const file = join(o.confDir, name);
    const next = unchainWeftCni(await readFile(file, 'utf8'), file);
    if (next !== undefined) await writeAtomic(file, next, 0o644);
  }
  await rm(join(o.binDir, PLUGIN_TYPE), { force: true });
}
