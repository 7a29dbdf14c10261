// Where the real Kubernetes binaries come from: `WEFT_KUBE_BIN_DIR` (default `../shared/kube`
// beside the repository) holds upstream v1.28.7 builds, xz-compressed, with a SHA256SUMS file.
// They are checked and unpacked once into a cache outside the repository; etcd is Debian's
// (`etcd-server`, installed by scripts/setup.sh). When anything is missing the Kubernetes tier is
// skipped with the reason, never passed.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KUBE_TOOLS = ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const;
export type KubeTool = (typeof KUBE_TOOLS)[number];

export interface KubeBinaries {
  /** Absolute paths of the unpacked tools that the source folder had. */
  tools: Partial<Record<KubeTool, string>>;
  etcd: string;
  sourceDir: string;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = process.env.WEFT_KUBE_CACHE_DIR ?? '/var/cache/weft-kube';

export function kubeBinDir(): string {
  const env = process.env.WEFT_KUBE_BIN_DIR;
  return env !== undefined && env !== '' ? resolve(env) : resolve(REPO, '..', 'shared', 'kube');
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function unxz(src: string, dst: string): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn('xz', ['-dc', src], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = createWriteStream(dst, { mode: 0o755 });
    let err = '';
    let exit: number | null | undefined;
    let written = false;
    const settle = (): void => {
      if (exit === undefined || !written) return;
      if (exit === 0) ok();
      else fail(new Error(`xz -dc ${src} exited ${exit}: ${err.trim()}`));
    };
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.pipe(out); // ends `out` when xz's output ends
    child.on('error', fail);
    out.on('error', fail);
    out.on('close', () => { written = true; settle(); });
    child.on('close', (code) => { exit = code; settle(); });
  });
}

let cached: Promise<KubeBinaries | string> | undefined;

/**
 * The binaries, unpacked and checked; or a string saying what is missing (the reason to skip).
 * Unpacking is keyed by the archive's checksum and goes through a temporary name and a rename, so
 * concurrent test processes never run a half-written file.
 */
export function kubeBinaries(): Promise<KubeBinaries | string> {
  cached ??= locate();
  return cached;
}

async function locate(): Promise<KubeBinaries | string> {
  const src = kubeBinDir();
  if (!existsSync(join(src, 'SHA256SUMS'))) return `no Kubernetes binaries in ${src} (set WEFT_KUBE_BIN_DIR to a folder with kube-apiserver.xz and SHA256SUMS)`;
  const etcd = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p));
  if (etcd === undefined) return 'etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)';
  const sums = new Map<string, string>();
  for (const line of (await readFile(join(src, 'SHA256SUMS'), 'utf8')).split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (m !== null) sums.set(m[2], m[1]);
  }
  const tools: Partial<Record<KubeTool, string>> = {};
  for (const tool of KUBE_TOOLS) {
    const archive = join(src, `${tool}.xz`);
    if (!existsSync(archive)) continue;
    const want = sums.get(`${tool}.xz`);
    if (want === undefined) return `${archive} is not listed in SHA256SUMS`;
    const dir = join(CACHE, want.slice(0, 16));
    const bin = join(dir, tool);
    if (!existsSync(bin)) {
      const got = await sha256(archive);
      if (got !== want) return `${archive} does not match SHA256SUMS (${got})`;
      await mkdir(dir, { recursive: true });
      const tmp = `${bin}.${process.pid}.tmp`;
      try {
        await unxz(archive, tmp);
        await chmod(tmp, 0o755);
        await rename(tmp, bin);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    tools[tool] = bin;
  }
  for (const need of ['kube-apiserver', 'kube-controller-manager', 'kubectl'] as const) {
    if (tools[need] === undefined) return `${need}.xz is missing from ${src}`;
  }
  return { tools, etcd, sourceDir: src };
}
