// One README table (and chart) per workload kind, from the medians over rounds: latency at a fixed
// rate, maximum throughput, one bulk stream, idle connections; plus the per-proxy memory summary
// and the p99-by-rate chart that read across workloads.
import { formatNumber, markdownTable, ratio, svgBarChart, svgLineChart, type Cell } from './lib/report.ts';
import { configsOf, cpuPerRequest, med, proxyNames, rssPerThousand, runsOf, type BenchResults } from './results.ts';
import type { HttpWorkload, IdleWorkload, Workload } from './workloads.ts';

export const BASE = 'no-mesh';
/** The HAProxy TCP pair: the anchor of the opaque rows. */
export const PEER = 'haproxy';
/** The HAProxy pair in HTTP mode (h2 + mTLS between the nodes): the anchor of the L7 rows. */
export const PEER_L7 = 'haproxy-l7';

export interface Report {
  md: string[];
  svgs: Map<string, string>;
}

export const n2 = (v: number | undefined): Cell => (v === undefined ? undefined : Math.round(v * 1000) / 1000);
export const signed = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${formatNumber(v, 3)}`);
export const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);
/** "agent n1" → "n1": the column header says which process. */
const short = (name: string): string => name.replace(/^\S+ /, '');

/** "n1 12.3 / n2 14" for each proxy process of a configuration; "—" when it has none. */
export function perProxy(r: BenchResults, c: string, pick: (proxy: string) => number | undefined, decimals = 1): string {
  const names = proxyNames(r, c);
  if (names.length === 0) return '—';
  return names.map((p) => `${short(p)} ${formatNumber(pick(p) ?? NaN, decimals)}`).join(' / ');
}

const proxyCpu = (r: BenchResults, w: string, c: string): string => perProxy(r, c, (p) => med(r, w, c, (x) => cpuPerRequest(x, p)));
const proxyRss = (r: BenchResults, w: string, c: string): string => perProxy(r, c, (p) => med(r, w, c, (x) => x.proxies.find((q) => q.name === p)?.rssMaxMiB));

/** The p99 range over rounds: on a shared machine one bad round moves a tail a lot; show how much. */
function spread(r: BenchResults, w: string, c: string): string {
  const v = runsOf(r, w, c).map((x) => x.load?.p99).filter((x): x is number => x !== undefined);
  return v.length === 0 ? 'n/a' : `${formatNumber(Math.min(...v), 2)}–${formatNumber(Math.max(...v), 2)}`;
}

const CPU_COLUMN = 'proxy CPU ms per 1000 req (n1 / n2)';
const RSS_COLUMN = 'proxy max RSS MiB (n1 / n2)';

export function latencyTable(r: BenchResults, w: HttpWorkload, rep: Report, chart: string): void {
  const p = (c: string, k: 'p50' | 'p90' | 'p99' | 'p999'): number | undefined => med(r, w.id, c, (x) => x.load?.[k]);
  const configs = configsOf(r, w.id);
  rep.md.push(markdownTable(
    ['configuration', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'p99 vs HAProxy TCP', 'p99 vs HAProxy L7', 'p99 per round (min–max)', 'errors', CPU_COLUMN, RSS_COLUMN],
    configs.map((c) => [
      c.label,
      n2(med(r, w.id, c.id, (x) => x.load?.achievedRps)),
      n2(p(c.id, 'p50')), n2(p(c.id, 'p90')), n2(p(c.id, 'p99')), n2(p(c.id, 'p999')),
      c.id === BASE ? '—' : signed(diff(p(c.id, 'p50'), p(BASE, 'p50'))),
      c.id === BASE ? '—' : signed(diff(p(c.id, 'p99'), p(BASE, 'p99'))),
      c.id === PEER ? '—' : ratio(p(c.id, 'p99'), p(PEER, 'p99')),
      c.id === PEER_L7 ? '—' : ratio(p(c.id, 'p99'), p(PEER_L7, 'p99')),
      spread(r, w.id, c.id),
      n2(med(r, w.id, c.id, (x) => x.load?.errors)),
      proxyCpu(r, w.id, c.id),
      proxyRss(r, w.id, c.id),
    ]),
  ));
  rep.svgs.set(chart, svgLineChart({
    title: w.title.replace('HTTP/1.1 ', ''),
    labels: ['p50', 'p90', 'p99', 'p99.9'],
    series: configs.map((c) => ({ name: c.label, values: (['p50', 'p90', 'p99', 'p999'] as const).map((k) => p(c.id, k) ?? NaN) })),
    yLabel: 'latency (ms)',
    width: 760,
  }));
}

export function throughputTable(r: BenchResults, w: HttpWorkload, rep: Report, chart: string): void {
  const rps = (c: string): number | undefined => med(r, w.id, c, (x) => x.load?.achievedRps);
  const configs = configsOf(r, w.id);
  rep.md.push(markdownTable(
    ['configuration', 'req/s', 'vs no mesh', 'vs HAProxy TCP', 'vs HAProxy L7', 'p50 ms', 'p99 ms', 'errors', CPU_COLUMN, RSS_COLUMN],
    configs.map((c) => [
      c.label, n2(rps(c.id)), ratio(rps(c.id), rps(BASE)), ratio(rps(c.id), rps(PEER)), ratio(rps(c.id), rps(PEER_L7)),
      n2(med(r, w.id, c.id, (x) => x.load?.p50)), n2(med(r, w.id, c.id, (x) => x.load?.p99)),
      n2(med(r, w.id, c.id, (x) => x.load?.errors)), proxyCpu(r, w.id, c.id), proxyRss(r, w.id, c.id),
    ]),
  ));
  rep.svgs.set(chart, svgBarChart({
    title: `${w.title.replace(/ \(closed loop.*$/, '')} (req/s)`, labels: ['req/s'],
    series: configs.map((c) => ({ name: c.label, values: [rps(c.id) ?? NaN] })), yLabel: 'requests per second', width: 760,
  }));
}

export function bulkTable(r: BenchResults, w: Workload, rep: Report, chart: string): void {
  const g = (c: string): number | undefined => med(r, w.id, c, (x) => (x.bulk?.ok ? x.bulk.gbps : undefined));
  const configs = configsOf(r, w.id);
  rep.md.push(markdownTable(
    ['configuration', 'Gb/s', 'vs no mesh', 'vs HAProxy TCP', 'proxy CPU s (n1 / n2)'],
    configs.map((c) => [
      c.label, n2(g(c.id)), ratio(g(c.id), g(BASE)), ratio(g(c.id), g(PEER)),
      perProxy(r, c.id, (p) => (med(r, w.id, c.id, (x) => x.proxies.find((q) => q.name === p)?.cpuUs) ?? NaN) / 1e6, 2),
    ]),
  ));
  rep.svgs.set(chart, svgBarChart({
    title: w.title, labels: ['Gb/s'], series: configs.map((c) => ({ name: c.label, values: [g(c.id) ?? NaN] })), yLabel: 'Gb/s', width: 760,
  }));
}

export function idleTable(r: BenchResults, w: IdleWorkload, rep: Report, chart: string): void {
  const configs = configsOf(r, w.id);
  const mem = (c: string, p: string, k: 'beforeMiB' | 'heldMiB'): number | undefined => med(r, w.id, c, (x) => x.idle?.memory.find((m) => m.name === p)?.[k]);
  const perK = (c: string, p: string): number | undefined => med(r, w.id, c, (x) => rssPerThousand(x, p));
  rep.md.push(markdownTable(
    ['configuration', 'held', 'failed', 'closed early', 'open time s', 'RSS before MiB (n1 / n2)', 'RSS held MiB (n1 / n2)', 'MiB per 1000 connections (n1 / n2)'],
    configs.map((c) => {
      const x = runsOf(r, w.id, c.id)[0];
      const failed = x?.idle === undefined ? undefined : Object.values(x.idle.failed).reduce((a, b) => a + b, 0);
      return [
        c.label, n2(med(r, w.id, c.id, (y) => y.idle?.open)), failed, n2(med(r, w.id, c.id, (y) => y.idle?.closedEarly)),
        n2(med(r, w.id, c.id, (y) => (y.idle === undefined ? undefined : y.idle.openMs / 1000))),
        perProxy(r, c.id, (p) => mem(c.id, p, 'beforeMiB')), perProxy(r, c.id, (p) => mem(c.id, p, 'heldMiB')), perProxy(r, c.id, (p) => perK(c.id, p), 2),
      ];
    }),
  ));
  const names = [...new Set(configs.flatMap((c) => proxyNames(r, c.id)).map(short))];
  rep.svgs.set(chart, svgBarChart({
    title: `Proxy RSS growth per 1000 idle connections (MiB), ${w.connections.toLocaleString('en-US')} held`,
    labels: names,
    series: configs.map((c) => ({ name: c.label, values: names.map((n) => perK(c.id, proxyNames(r, c.id).find((p) => short(p) === n) ?? '') ?? NaN) })),
    yLabel: 'MiB per 1000 connections', width: 760,
  }));
}

/** Where each proxy's memory stands: idle, under the 1000 req/s HTTP/1.1 load, the most under any
 * request load, and with the idle-connection workload's connections held. */
export function memoryTable(r: BenchResults, rep: Report): void {
  const at1000 = r.workloads.find((w) => w.kind === 'http' && w.protocol === 'h1' && w.rate === 1000 && !w.newConnection && w.bytes === 1024);
  const idle = r.workloads.find((w): w is IdleWorkload => w.kind === 'idle');
  const loads = r.workloads.filter((w) => w.kind === 'http').map((w) => w.id);
  const rows: Cell[][] = [];
  for (const c of r.configs) {
    for (const p of proxyNames(r, c.id)) {
      const peak = Math.max(...loads.map((w) => med(r, w, c.id, (x) => x.proxies.find((q) => q.name === p)?.rssMaxMiB) ?? NaN).filter(Number.isFinite));
      const held = idle === undefined ? undefined : runsOf(r, idle.id, c.id).map((x) => x.idle?.memory.find((m) => m.name === p)?.heldMiB).find((v) => v !== undefined);
      rows.push([
        c.label, p,
        n2(r.idle.find((i) => i.config === c.id && i.name === p)?.rssMiB),
        at1000 === undefined ? undefined : n2(med(r, at1000.id, c.id, (x) => x.proxies.find((q) => q.name === p)?.rssMaxMiB)),
        Number.isFinite(peak) ? n2(peak) : undefined,
        n2(held),
        idle === undefined ? undefined : n2(med(r, idle.id, c.id, (x) => rssPerThousand(x, p))),
        at1000 === undefined ? undefined : n2(med(r, at1000.id, c.id, (x) => cpuPerRequest(x, p))),
      ]);
    }
  }
  rep.md.push(markdownTable(
    ['configuration', 'process', 'RSS idle MiB', 'RSS at 1000 req/s MiB', 'RSS peak under load MiB', `RSS with ${idle?.connections.toLocaleString('en-US') ?? 'N'} idle connections MiB`, 'MiB per 1000 connections', 'CPU ms per 1000 req at 1000 req/s'],
    rows,
  ));
}

/** p99 against offered rate for the HTTP/1.1 1 KiB fixed-rate workloads; undefined with fewer than two rates. */
export function rateChart(r: BenchResults): string | undefined {
  const ws = r.workloads
    .filter((w): w is HttpWorkload => w.kind === 'http' && w.protocol === 'h1' && w.rate > 0 && !w.newConnection && w.bytes === 1024)
    .sort((a, b) => a.rate - b.rate);
  if (ws.length < 2) return undefined;
  return svgLineChart({
    title: 'HTTP/1.1 1 KiB: p99 latency by offered rate',
    labels: ws.map((w) => `${w.rate} req/s`),
    series: r.configs.map((c) => ({ name: c.label, values: ws.map((w) => med(r, w.id, c.id, (x) => x.load?.p99) ?? NaN) })),
    yLabel: 'p99 (ms)',
    width: 760,
  });
}
