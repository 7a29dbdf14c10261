// What the fault suites share: steady load with a full account (tests/apps/steady-client.ts), the
// assertion that nothing was lost, the agent's Prometheus samples and `weft check` as JSON.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseProm, sumOf, type Sample } from '../agent/telemetry/prom-parse.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import type { Mesh } from '../testbed/mesh.ts';

/** The final line of steady-client.ts. */
export interface SteadyResult {
  method: string;
  sent: number;
  answered: number;
  failed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  byName: Record<string, number>;
  bytesSent: number;
  bytesReceived: number;
  sha256Sent: string;
  sha256Received: string;
  mismatches: number;
  maxMs: number;
  maxFailedMs: number;
  failures: { at: number; ms: number; error: string }[];
  durationMs: number;
}

export interface Steady {
  app: RunningApp;
  /** Requests answered so far (from the progress lines). */
  answered(): number;
  /** Stops the load (in-flight requests finish) and returns the account. */
  finish(): Promise<SteadyResult>;
}

export const LONG = process.env.WEFT_LONG_TESTS === '1';

export async function startSteady(mesh: Mesh, pod: string, args: string[]): Promise<Steady> {
  const app = await mesh.startApp(pod, 'steady-client.ts', args);
  return {
    app,
    answered: () => {
      for (let i = app.lines.length - 1; i >= 0; i--) if (app.lines[i].progress === true) return app.lines[i].answered as number;
      return 0;
    },
    async finish() {
      await app.stop(40_000);
      const last = app.lines.findLast((l) => l.final === true);
      if (last === undefined) throw new Error(`steady-client gave no result; stderr: ${app.stderr()}`);
      return last as unknown as SteadyResult;
    },
  };
}

interface Assert {
  equal(a: unknown, b: unknown, m: string): unknown;
  ok(v: unknown, m: string): unknown;
}

/** Every request answered with the right bytes: the promise of a scenario that loses nothing. */
export function assertNothingLost(t: Assert, r: SteadyResult, what: string): void {
  const why = r.failed === 0 ? '' : ` — ${JSON.stringify({ statuses: r.statuses, errors: r.errors, failures: r.failures.slice(0, 5) })}`;
  t.ok(r.sent > 0, `${what}: load ran (${r.sent} requests)`);
  t.equal(r.failed, 0, `${what}: no failed ${r.method} (${r.answered}/${r.sent} answered)${why}`);
  t.equal(r.answered, r.sent, `${what}: every request answered`);
  t.equal(r.sha256Received, r.sha256Sent, `${what}: every body checked out (${r.bytesReceived} bytes received${r.method === 'PUT' ? `, ${r.bytesSent} sent` : ''})`);
}

/** Stops each load and asserts it lost nothing; the accounts in the same order. */
export async function finishLossless(t: Assert, loads: readonly Steady[]): Promise<SteadyResult[]> {
  const out: SteadyResult[] = [];
  for (const l of loads) {
    const r = await l.finish();
    assertNothingLost(t, r, r.method);
    out.push(r);
  }
  return out;
}

/** One line for the README table. */
export function figures(r: SteadyResult): string {
  return `${r.method}: sent ${r.sent}, answered ${r.answered}, failed ${r.failed}, bytes out ${r.bytesSent} in ${r.bytesReceived}, sha ${r.sha256Received === r.sha256Sent ? 'equal' : 'DIFFERENT'}, max ${r.maxMs} ms, ${(r.durationMs / 1000).toFixed(1)} s`;
}

export async function metrics(mesh: Mesh, node: string): Promise<Sample[]> {
  return parseProm((await mesh.admin(node, '/metrics')).body as string);
}

export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sumOf(samples, name, labels);
}

const WEFT = fileURLToPath(new URL('../../dist/weft.mjs', import.meta.url));

export interface CheckRow { group: string; name: string; status: string; detail: string }

/** `weft check -o json` against a node's agent: exit code and rows. */
export function weftCheck(mesh: Mesh, node: string): Promise<{ code: number; checks: CheckRow[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WEFT, '--socket', mesh.adminSocket(node), 'check', '-o', 'json'], { timeout: 30_000 }, (err, stdout, stderr) => {
      try {
        const j = JSON.parse(stdout) as { checks: CheckRow[] };
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, checks: j.checks });
      } catch {
        reject(new Error(`weft check printed no JSON (${String(err)}): ${stdout} ${stderr}`));
      }
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
