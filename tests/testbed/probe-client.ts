// Test-side helpers around probe.ts: start a probe server in a namespace and watch what it
// accepts, or connect from a namespace and see who answered.
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Testbed } from './testbed.ts';

export interface ProbeAccept {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface ProbeServer {
  readonly accepts: ProbeAccept[];
  /** Resolves with the first accept (already seen or future) matching pred; rejects after timeoutMs. */
  waitForAccept(pred?: (a: ProbeAccept) => boolean, timeoutMs?: number): Promise<ProbeAccept>;
  stop(): Promise<void>;
}

export interface ProbeServerOptions {
  host?: string;
  tag?: string;
  /** Listen with IP_TRANSPARENT (needs agent/native built). */
  transparent?: boolean;
}

const PROBE = fileURLToPath(new URL('./probe.ts', import.meta.url));

export function startProbeServer(tb: Testbed, netns: string, port: number, opts: ProbeServerOptions = {}): Promise<ProbeServer> {
  const args = [PROBE, opts.host ?? '0.0.0.0', String(port), opts.tag ?? 'probe', opts.transparent ? 'transparent' : ''];
  const child = tb.spawn(netns, process.execPath, args);
  const accepts: ProbeAccept[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });

  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const onEarlyExit = (code: number | null) => reject(new Error(`probe server in ${netns} exited (${code}) before listening: ${stderr.trim()}`));
    child.once('exit', onEarlyExit);
    lines.on('line', (line) => {
      let rec: { event?: string; message?: string } & Partial<ProbeAccept>;
      try { rec = JSON.parse(line); } catch { return; }
      if (rec.event === 'listening') {
        child.off('exit', onEarlyExit);
        resolve(server);
      } else if (rec.event === 'error') {
        reject(new Error(`probe server in ${netns}: ${rec.message}`));
      } else if (rec.event === 'accept') {
        accepts.push({ localAddress: rec.localAddress!, localPort: rec.localPort!, remoteAddress: rec.remoteAddress!, remotePort: rec.remotePort! });
        for (const w of waiters) w();
      }
    });

    const server: ProbeServer = {
      accepts,
      waitForAccept(pred = () => true, timeoutMs = 5000) {
        return new Promise((res, rej) => {
          const check = (): boolean => {
            const hit = accepts.find(pred);
            if (hit === undefined) return false;
            waiters.delete(check);
            clearTimeout(timer);
            res(hit);
            return true;
          };
          const timer = setTimeout(() => { waiters.delete(check); rej(new Error(`no matching accept on probe in ${netns} within ${timeoutMs}ms`)); }, timeoutMs);
          waiters.add(check);
          check();
        });
      },
      stop() {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        return new Promise((res) => { child.once('exit', () => res()); child.kill('SIGTERM'); });
      },
    };
  });
}

export interface ProbeResult {
  ok: boolean;
  /** What the server answered (its tag), trimmed. */
  reply: string;
  error: string;
}

/** Connects from a namespace with bash's /dev/tcp (no Node start-up cost) and reads the reply. */
export async function probeConnect(tb: Testbed, netns: string, host: string, port: number, timeoutSec = 3): Promise<ProbeResult> {
  const script = `exec 3<>/dev/tcp/${host}/${port} && cat <&3`;
  const r = await tb.exec(netns, 'timeout', [String(timeoutSec), 'bash', '-c', script]);
  return { ok: r.code === 0, reply: r.stdout.trim(), error: r.code === 0 ? '' : (r.stderr.trim() || `exit ${r.code}`) };
}
