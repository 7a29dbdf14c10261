// Where each issue-10 target stands, from one results file: the data-plane figures from this run's
// medians, the control figures from the newest saved results of bench/ca-signing.ts and
// bench/control-scale.ts (each with its own date). Goals, not assertions: "not met" is a finding.
import { formatNumber } from './lib/report.ts';
import { cpuPerRequest, med, proxyNames, runsOf, type BenchResults } from './results.ts';
import { BASE, PEER, diff, signed } from './workload-tables.ts';
import type { HttpWorkload, IdleWorkload } from './workloads.ts';

export interface Target {
  text: string;
  measured: string;
  /** undefined: not measured in this run (or no saved result). */
  met: boolean | undefined;
  /** When the figure was measured, if not in this run. */
  date?: string;
}

const MB_PER_MIB = 1.048576;
const load = (l: number | undefined): string => (l === undefined ? '' : `; machine load average ${l}`);
const day = (iso: string): string => iso.slice(0, 16).replace('T', ' ') + ' UTC';

/** The L7 and opaque rows per redirect mode that this run has. */
function weftRows(r: BenchResults, kind: 'l7' | 'opaque'): { id: string; label: string }[] {
  return r.configs.filter((c) => c.id === `weft-${kind}` || c.id === `weft-${kind}-ebpf`);
}

function percentOf(a: number | undefined, b: number | undefined): { text: string; v: number | undefined } {
  if (a === undefined || b === undefined || b === 0) return { text: 'n/a', v: undefined };
  return { text: `${formatNumber((a / b) * 100, 0)}%`, v: a / b };
}

function dataPlane(r: BenchResults): Target[] {
  const out: Target[] = [];
  const at1000 = r.workloads.find((w): w is HttpWorkload => w.kind === 'http' && w.protocol === 'h1' && w.rate === 1000 && !w.newConnection && w.bytes === 1024);
  const max = r.workloads.find((w): w is HttpWorkload => w.kind === 'http' && w.protocol === 'h1' && w.rate === 0);
  const bulk = r.workloads.find((w) => w.kind === 'bulk');
  const idle = r.workloads.find((w): w is IdleWorkload => w.kind === 'idle');
  if (at1000 !== undefined) {
    const p99 = (c: string): number | undefined => med(r, at1000.id, c, (x) => x.load?.p99);
    const peerAdded = diff(p99(PEER), p99(BASE));
    // HTTP requests take the L7 path: that is the row the latency, CPU and memory targets are about.
    for (const c of weftRows(r, 'l7')) {
      const added = diff(p99(c.id), p99(BASE));
      out.push({ text: `added p99 at 1000 req/s, HTTP/1.1 1 KiB ≤ +0.3 ms (${c.label})`, measured: `${signed(added)} ms (HAProxy ${signed(peerAdded)} ms)`, met: added === undefined ? undefined : added <= 0.3 });
      if (c.id !== 'weft-l7') continue;
      out.push({
        text: `L7 added p99 at 1000 req/s ≤ 2× HAProxy's added p99 (issue 4; ${c.label})`,
        measured: `${signed(added)} ms vs ${signed(peerAdded)} ms`,
        met: added === undefined || peerAdded === undefined ? undefined : added <= 2 * Math.max(peerAdded, 0),
      });
    }
    for (const c of weftRows(r, 'l7')) {
      const cpus = proxyNames(r, c.id).map((a) => [a, med(r, at1000.id, c.id, (x) => cpuPerRequest(x, a))] as const);
      const worst = Math.max(...cpus.map(([, v]) => v ?? NaN));
      out.push({
        text: `CPU per request per agent ≤ 50 µs at 1000 req/s (${c.label})`,
        measured: cpus.map(([a, v]) => `${a} ${formatNumber(v ?? NaN, 1)} µs`).join(', '),
        met: Number.isFinite(worst) ? worst <= 50 : undefined,
      });
    }
    const l7 = r.configs.find((c) => c.id === 'weft-l7');
    if (l7 !== undefined) {
      const rss = proxyNames(r, l7.id).map((a) => [a, med(r, at1000.id, l7.id, (x) => x.proxies.find((q) => q.name === a)?.rssMaxMiB)] as const);
      const top = Math.max(...rss.map(([, v]) => v ?? NaN));
      out.push({
        text: `agent RSS ≤ 64 MB at 1000 req/s (${l7.label}; this testbed has a few pods per node, not 100)`,
        measured: rss.map(([a, v]) => `${a} ${formatNumber(v ?? NaN, 1)} MiB`).join(', '),
        met: Number.isFinite(top) ? top * MB_PER_MIB <= 64 : undefined,
      });
    }
  }
  else {
    out.push({ text: 'added p99 at 1000 req/s, HTTP/1.1 1 KiB ≤ +0.3 ms', measured: 'no 1000 req/s HTTP/1.1 workload in this profile', met: undefined });
    out.push({ text: 'CPU per request per agent ≤ 50 µs at 1000 req/s', measured: 'no 1000 req/s HTTP/1.1 workload in this profile', met: undefined });
    out.push({ text: 'agent RSS ≤ 64 MB at 1000 req/s', measured: 'no 1000 req/s HTTP/1.1 workload in this profile', met: undefined });
  }
  if (max !== undefined) {
    const rps = (c: string): number | undefined => med(r, max.id, c, (x) => x.load?.achievedRps);
    for (const [kind, goal] of [['l7', 0.5], ['opaque', 0.75]] as const) {
      for (const c of weftRows(r, kind)) {
        const p = percentOf(rps(c.id), rps(PEER));
        out.push({ text: `${kind === 'l7' ? 'L7' : 'opaque'} ≥ ${goal * 100}% of HAProxy throughput, HTTP/1.1 closed loop (${c.label})`, measured: p.text, met: p.v === undefined ? undefined : p.v >= goal });
      }
    }
  }
  if (bulk !== undefined) {
    const g = (c: string): number | undefined => med(r, bulk.id, c, (x) => (x.bulk?.ok ? x.bulk.gbps : undefined));
    for (const c of weftRows(r, 'opaque')) {
      const p = percentOf(g(c.id), g(PEER));
      out.push({ text: `opaque ≥ 75% of HAProxy throughput, one bulk TCP stream (${c.label})`, measured: p.text, met: p.v === undefined ? undefined : p.v >= 0.75 });
    }
  }
  if (idle !== undefined) {
    for (const c of [...weftRows(r, 'l7'), ...weftRows(r, 'opaque')]) {
      const x = runsOf(r, idle.id, c.id)[0];
      if (x?.idle === undefined) continue;
      const top = Math.max(...x.idle.memory.map((m) => m.heldMiB));
      const full = x.idle.open >= idle.connections;
      out.push({
        text: `agent RSS ≤ 150 MB with ${idle.connections.toLocaleString('en-US')} open connections (${c.label})`,
        measured: `${x.idle.memory.map((m) => `${m.name} ${formatNumber(m.heldMiB, 1)} MiB`).join(', ')}${full ? '' : ` (only ${x.idle.open} held)`}`,
        met: Number.isFinite(top) && full ? top * MB_PER_MIB <= 150 : undefined,
      });
    }
  }
  return out;
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
  return t.met === undefined ? (t.text.includes('no target') ? '—' : 'not measured') : t.met ? 'met' : 'not met';
}

/** The date cell: this run's, or the saved result's. */
export function dateOf(t: Target, runDate: string): string {
  return day(t.date ?? runDate);
}
