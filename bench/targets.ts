// Where each target stands, from one results file. The data-plane targets are issue 19's, against
// the HAProxy pair in HTTP mode (the L7 anchor) and as a TCP pair (the opaque anchor), from this
// run's medians; the control targets are issue 10's, from the newest saved results of
// bench/ca-signing.ts and bench/control-scale.ts (each with its own date). Goals, not assertions:
// "fail" is a finding.
import { formatNumber } from './lib/report.ts';
import { cpuPerRequest, med, proxyNames, runsOf, type BenchResults } from './results.ts';
import { BASE, PEER, PEER_L7, diff, signed } from './workload-tables.ts';
import type { HttpWorkload, IdleWorkload, Protocol } from './workloads.ts';

export interface Target {
  text: string;
  measured: string;
  /** undefined: not measured in this run (or no saved result). */
  met: boolean | undefined;
  /** When the figure was measured, if not in this run. */
  date?: string;
}

/** Issue 19's limits. */
export const LIMITS = {
  /** Weft L7 closed-loop req/s ÷ the HAProxy L7 pair's. */
  l7Throughput: 1,
  /** Weft L7 added p99 at 1000 req/s ÷ the HAProxy L7 pair's. */
  addedP99: 1.5,
  rssIdleMiB: 64,
  rssAt1000MiB: 96,
  rssIdleConnectionsMiB: 150,
  /** Weft opaque bulk Gb/s ÷ the HAProxy TCP pair's. */
  opaqueBulk: 0.9,
} as const;

/** The protocols the L7 targets are asked for, as the targets table names them. */
export const L7_PROTOCOLS: readonly (readonly [Protocol, string])[] = [['h1', 'HTTP/1.1 1 KiB'], ['h2', 'HTTP/2'], ['grpc', 'gRPC unary']];

const load = (l: number | undefined): string => (l === undefined ? '' : `; machine load average ${l}`);
const day = (iso: string): string => iso.slice(0, 16).replace('T', ' ') + ' UTC';
const mib = (v: number | undefined): string => `${formatNumber(v ?? NaN, 1)} MiB`;

/** The L7 and opaque rows per redirect mode that this run has. */
export function weftRows(r: BenchResults, kind: 'l7' | 'opaque'): { id: string; label: string }[] {
  return r.configs.filter((c) => c.id === `weft-${kind}` || c.id === `weft-${kind}-ebpf`);
}

function percentOf(a: number | undefined, b: number | undefined): { text: string; v: number | undefined } {
  if (a === undefined || b === undefined || b === 0) return { text: 'n/a', v: undefined };
  return { text: `${formatNumber((a / b) * 100, 0)}%`, v: a / b };
}

/** The request workload of a protocol at a rate (0 = closed loop): keep-alive, 1 KiB. */
export function httpWorkload(r: BenchResults, protocol: Protocol, rate: number): HttpWorkload | undefined {
  return r.workloads.find((w): w is HttpWorkload => w.kind === 'http' && w.protocol === protocol && w.rate === rate && !w.newConnection && w.bytes === 1024);
}

/** Whether a configuration ran a workload at all (a row left out of a workload is not a failure). */
const ran = (r: BenchResults, w: string, c: string): boolean => runsOf(r, w, c).length > 0;

/** Added p99 (configuration − no mesh) of a workload, median over rounds. */
export function addedP99(r: BenchResults, w: string, c: string): number | undefined {
  const p99 = (id: string): number | undefined => med(r, w, id, (x) => x.load?.p99);
  return diff(p99(c), p99(BASE));
}

/** Why a fixed-rate run does not count, or undefined when it does: a round with errors, or the
 * median achieved rate below 95 % of the offered one. On a saturated machine even the baseline
 * misses the rate, and a latency or CPU figure from such a run says nothing about the proxy. */
export function rateShortfall(r: BenchResults, w: HttpWorkload, c: string): string | undefined {
  const runs = runsOf(r, w.id, c).filter((x) => x.load !== undefined);
  if (runs.length === 0) return 'no run';
  const errors = runs.reduce((a, x) => a + (x.load?.errors ?? 0), 0);
  const rps = med(r, w.id, c, (x) => x.load?.achievedRps) ?? 0;
  if (errors === 0 && rps >= 0.95 * w.rate) return undefined;
  return `${formatNumber(rps, 0)} of ${w.rate} req/s${errors > 0 ? `, ${errors} errors` : ''}`;
}

/** The node's HAProxy process that an agent is set against: "agent n1" ↔ "haproxy n1". */
const peerProcess = (agent: string): string => agent.replace(/^\S+/, 'haproxy');

function l7Targets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const none = (text: string, why: string): Target => ({ text, measured: why, met: undefined });
  for (const [protocol, name] of L7_PROTOCOLS) {
    const closed = httpWorkload(r, protocol, 0);
    const at1000 = httpWorkload(r, protocol, 1000);
    const tput = `L7 closed-loop throughput ≥ ${LIMITS.l7Throughput * 100}% of the HAProxy L7 pair, ${name}`;
    const cpu = `L7 agent CPU per request ≤ HAProxy's per process at 1000 req/s, ${name}`;
    const tail = `L7 added p99 at 1000 req/s ≤ ${LIMITS.addedP99} × HAProxy's, ${name}`;
    if (closed === undefined || !ran(r, closed.id, PEER_L7)) out.push(none(tput, `no closed-loop ${name} run of the HAProxy L7 pair in this profile`));
    else {
      const rps = (c: string): number | undefined => med(r, closed.id, c, (x) => x.load?.achievedRps);
      for (const c of weftRows(r, 'l7').filter((x) => ran(r, closed.id, x.id))) {
        const p = percentOf(rps(c.id), rps(PEER_L7));
        out.push({ text: `${tput} (${c.label})`, measured: `${p.text} (${formatNumber(rps(c.id) ?? NaN, 0)} vs ${formatNumber(rps(PEER_L7) ?? NaN, 0)} req/s)`, met: p.v === undefined ? undefined : p.v >= LIMITS.l7Throughput });
      }
    }
    if (at1000 === undefined || !ran(r, at1000.id, PEER_L7)) {
      out.push(none(cpu, `no 1000 req/s ${name} run of the HAProxy L7 pair in this profile`));
      out.push(none(tail, `no 1000 req/s ${name} run of the HAProxy L7 pair in this profile`));
      continue;
    }
    const peerAdded = addedP99(r, at1000.id, PEER_L7);
    // The references must have carried the rate, or nothing at this rate can be judged.
    const refs = [[BASE, 'no mesh'], [PEER_L7, 'HAProxy L7']].map(([id, name]) => [name, rateShortfall(r, at1000, id)] as const).filter(([, why]) => why !== undefined);
    for (const c of weftRows(r, 'l7').filter((x) => ran(r, at1000.id, x.id))) {
      if (refs.length > 0) {
        const why = `not judged: the machine did not carry 1000 req/s (${refs.map(([n, w]) => `${n} ${w}`).join('; ')})`;
        out.push({ text: `${cpu} (${c.label})`, measured: why, met: undefined }, { text: `${tail} (${c.label})`, measured: why, met: undefined });
        continue;
      }
      // The references carried it and this row did not: that is the proxy's shortfall, a fail.
      const short = rateShortfall(r, at1000, c.id);
      const cpus = proxyNames(r, c.id).map((a) => {
        const mine = med(r, at1000.id, c.id, (x) => cpuPerRequest(x, a));
        const peer = med(r, at1000.id, PEER_L7, (x) => cpuPerRequest(x, peerProcess(a)));
        return { a, mine, peer, ok: mine === undefined || peer === undefined ? undefined : mine <= peer };
      });
      out.push({
        text: `${cpu} (${c.label})`,
        measured: cpus.map((x) => `${x.a} ${formatNumber(x.mine ?? NaN, 0)} µs vs ${peerProcess(x.a)} ${formatNumber(x.peer ?? NaN, 0)} µs`).join(', ') + (short === undefined ? '' : ` (carried only ${short})`),
        met: short !== undefined ? false : cpus.length === 0 || cpus.some((x) => x.ok === undefined) ? undefined : cpus.every((x) => x.ok === true),
      });
      const added = addedP99(r, at1000.id, c.id);
      // HAProxy's own added p99 can come out at or below zero in a noisy round: the limit is then 0.
      const limit = peerAdded === undefined ? undefined : LIMITS.addedP99 * Math.max(peerAdded, 0);
      out.push({
        text: `${tail} (${c.label})`,
        measured: `${signed(added)} ms vs ${signed(peerAdded)} ms (limit ${signed(limit)} ms)${short === undefined ? '' : `; carried only ${short}`}`,
        met: short !== undefined ? false : added === undefined || limit === undefined ? undefined : added <= limit,
      });
    }
  }
  return out;
}

function memoryTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  // The agents serve both of a mode's rows: read them through the L7 row.
  for (const c of weftRows(r, 'l7')) {
    const idle = r.idle.filter((i) => i.config === c.id);
    const agents = c.label.replace(/^Weft L7 · /, 'Weft agents · ');
    out.push({
      text: `agent RSS ≤ ${LIMITS.rssIdleMiB} MiB idle (${agents})`,
      measured: idle.length === 0 ? 'no idle reading' : idle.map((i) => `${i.name} ${mib(i.rssMiB)}`).join(', '),
      met: idle.length === 0 ? undefined : idle.every((i) => i.rssMiB <= LIMITS.rssIdleMiB),
    });
    const at1000 = httpWorkload(r, 'h1', 1000);
    if (at1000 === undefined || !ran(r, at1000.id, c.id)) {
      out.push({ text: `agent RSS ≤ ${LIMITS.rssAt1000MiB} MiB at 1000 req/s (${agents})`, measured: 'no 1000 req/s HTTP/1.1 run in this profile', met: undefined });
    } else {
      const rss = proxyNames(r, c.id).map((a) => [a, med(r, at1000.id, c.id, (x) => x.proxies.find((q) => q.name === a)?.rssMaxMiB)] as const);
      out.push({
        text: `agent RSS ≤ ${LIMITS.rssAt1000MiB} MiB at 1000 req/s, HTTP/1.1 L7 (${agents})`,
        measured: rss.map(([a, v]) => `${a} ${mib(v)}`).join(', '),
        met: rss.length === 0 || rss.some(([, v]) => v === undefined) ? undefined : rss.every(([, v]) => v! <= LIMITS.rssAt1000MiB),
      });
    }
  }
  const idle = r.workloads.find((w): w is IdleWorkload => w.kind === 'idle');
  if (idle !== undefined) {
    for (const c of [...weftRows(r, 'l7'), ...weftRows(r, 'opaque')]) {
      const x = runsOf(r, idle.id, c.id)[0];
      if (x?.idle === undefined) continue;
      const top = Math.max(...x.idle.memory.map((m) => m.heldMiB));
      const full = x.idle.open >= idle.connections;
      out.push({
        text: `agent RSS ≤ ${LIMITS.rssIdleConnectionsMiB} MiB with ${idle.connections.toLocaleString('en-US')} idle connections (${c.label})`,
        measured: `${x.idle.memory.map((m) => `${m.name} ${mib(m.heldMiB)}`).join(', ')}${full ? '' : ` (only ${x.idle.open} held)`}`,
        met: Number.isFinite(top) && full ? top <= LIMITS.rssIdleConnectionsMiB : undefined,
      });
    }
  }
  return out;
}

function opaqueTargets(r: BenchResults): Target[] {
  const bulk = r.workloads.find((w) => w.kind === 'bulk');
  if (bulk === undefined) return [{ text: `opaque: one bulk TCP stream ≥ ${LIMITS.opaqueBulk * 100}% of the HAProxy TCP pair`, measured: 'no bulk workload in this profile', met: undefined }];
  const g = (c: string): number | undefined => med(r, bulk.id, c, (x) => (x.bulk?.ok ? x.bulk.gbps : undefined));
  return weftRows(r, 'opaque').map((c) => {
    const p = percentOf(g(c.id), g(PEER));
    return {
      text: `opaque: one bulk TCP stream ≥ ${LIMITS.opaqueBulk * 100}% of the HAProxy TCP pair (${c.label})`,
      measured: `${p.text} (${formatNumber(g(c.id) ?? NaN, 2)} vs ${formatNumber(g(PEER) ?? NaN, 2)} Gb/s)`,
      met: p.v === undefined ? undefined : p.v >= LIMITS.opaqueBulk,
    };
  });
}

function dataPlane(r: BenchResults): Target[] {
  if (!r.configs.some((c) => c.id === PEER_L7)) {
    return [{ text: 'issue 19 data-plane targets', measured: 'this results file has no HAProxy L7 pair (it predates it)', met: undefined }, ...memoryTargets(r), ...opaqueTargets(r)];
  }
  return [...l7Targets(r), ...memoryTargets(r), ...opaqueTargets(r)];
}

function control(r: BenchResults): Target[] {
  const out: Target[] = [];
  const ca = r.caSigning;
  out.push(ca === undefined
    ? { text: 'control: ≥ 2000 certificate signings/s per core', measured: 'no saved bench/ca-signing.ts result', met: undefined }
    : {
      text: 'control: ≥ 2000 certificate signings/s per core (`bench/ca-signing.ts`)',
      measured: `${formatNumber(ca.data.signingsPerSecond, 0)}/s on one core (${ca.data.n} CSRs${load(ca.data.loadAverage)})`,
      met: ca.data.signingsPerSecond >= 2000, date: ca.date,
    });
  const cs = r.controlScale;
  if (cs === undefined) {
    out.push({ text: 'control: a change reaches 1000 agents in < 1 s p99', measured: 'no saved bench/control-scale.ts result', met: undefined });
    return out;
  }
  const d = cs.data;
  const atScale = d.agents >= 1000;
  out.push({
    text: 'control: a change reaches 1000 agents in < 1 s p99 (`bench/control-scale.ts`)',
    measured: `p99 ${formatNumber(d.propagationMs.p99, 0)} ms, p50 ${formatNumber(d.propagationMs.p50, 0)} ms (${d.agents} agents, ${d.pods.toLocaleString('en-US')} pods, ${d.propagationMs.samples} samples${load(d.loadAverage)})`,
    met: atScale ? d.propagationMs.p99 < 1000 : undefined, date: cs.date,
  });
  out.push({
    text: `control memory at ${d.pods.toLocaleString('en-US')} pods / ${d.agents} agents (no target; measured)`,
    measured: `control ${formatNumber(d.controlRssMiB.synced, 0)} MiB synced, ${formatNumber(d.controlRssMiB.afterChanges, 0)} MiB after changes; ${d.agentSideKiBPerAgent} KiB per simulated agent`,
    met: undefined, date: cs.date,
  });
  return out;
}

export function targets(r: BenchResults): Target[] {
  return [...dataPlane(r), ...control(r)];
}

/** The status cell. */
export function statusOf(t: Target): string {
  return t.met === undefined ? (t.text.includes('no target') ? '—' : 'not measured') : t.met ? 'pass' : 'fail';
}

/** The date cell: this run's, or the saved result's. */
export function dateOf(t: Target, runDate: string): string {
  return day(t.date ?? runDate);
}
