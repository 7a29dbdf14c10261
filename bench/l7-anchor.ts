// The issue-19 summary: per protocol (HTTP/1.1 1 KiB, HTTP/2, gRPC unary) and path, the figures the
// targets are judged on, side by side with the HAProxy L7 pair (its anchor) and the HAProxy TCP
// pair: closed-loop req/s and the ratio to the L7 pair, CPU per request per node process and added
// p99 at 1000 req/s, and RSS idle / after that protocol's load. Medians over rounds of this run.
import { formatNumber, markdownTable, ratio, type Cell } from './lib/report.ts';
import { cpuPerRequest, med, proxyNames, runsOf, type BenchResults } from './results.ts';
import { addedP99, httpWorkload, L7_PROTOCOLS } from './targets.ts';
import { PEER, PEER_L7, signed } from './workload-tables.ts';

/** The rows, in order: the anchor first, then Weft's L7 rows, then the opaque path and its anchor. */
const ROWS = [PEER_L7, 'weft-l7', 'weft-l7-ebpf', 'weft-opaque', 'weft-opaque-ebpf', PEER];

/** "n1 12 / n2 14" over a configuration's proxy processes, or "—" when it has none. */
function perNode(r: BenchResults, c: string, pick: (proxy: string) => number | undefined, decimals: number): string {
  const names = proxyNames(r, c);
  if (names.length === 0) return '—';
  return names.map((p) => {
    const v = pick(p);
    return `${p.replace(/^\S+ /, '')} ${v === undefined ? 'n/a' : formatNumber(v, decimals)}`;
  }).join(' / ');
}

/** Markdown lines for the section; empty when the run has no HAProxy L7 pair. */
export function l7AnchorSection(r: BenchResults): string[] {
  if (!r.configs.some((c) => c.id === PEER_L7)) return [];
  const rows: Cell[][] = [];
  for (const [protocol, name] of L7_PROTOCOLS) {
    const closed = httpWorkload(r, protocol, 0);
    const at1000 = httpWorkload(r, protocol, 1000);
    const rps = (c: string): number | undefined => (closed === undefined ? undefined : med(r, closed.id, c, (x) => x.load?.achievedRps));
    for (const id of ROWS) {
      const c = r.configs.find((x) => x.id === id);
      const ranAny = [closed, at1000].some((w) => w !== undefined && runsOf(r, w.id, id).length > 0);
      if (c === undefined || !ranAny) continue;
      const loads = [closed, at1000].filter((w) => w !== undefined);
      // After load: the highest sample during this protocol's runs (median over rounds per workload).
      const after = (p: string): number | undefined => {
        const v = loads.map((w) => med(r, w.id, id, (x) => x.proxies.find((q) => q.name === p)?.rssMaxMiB)).filter((x): x is number => x !== undefined);
        return v.length === 0 ? undefined : Math.max(...v);
      };
      const idle = (p: string): number | undefined => r.idle.find((i) => i.config === id && i.name === p)?.rssMiB;
      rows.push([
        name,
        c.label,
        rps(id) === undefined ? 'n/a' : formatNumber(rps(id)!, 0),
        ratio(rps(id), rps(PEER_L7)),
        at1000 === undefined ? 'n/a' : perNode(r, id, (p) => med(r, at1000.id, id, (x) => cpuPerRequest(x, p)), 0),
        at1000 === undefined ? 'n/a' : `${signed(addedP99(r, at1000.id, id))}`,
        perNode(r, id, (p) => idle(p), 1),
        perNode(r, id, (p) => after(p), 1),
      ]);
    }
  }
  return [
    '### L7 against the HAProxy L7 pair (issue 19)\n',
    'Per protocol, the figures the targets above are judged on. Closed loop: HTTP/1.1 16 connections; HTTP/2 and gRPC 4 connections, 16 in flight. CPU (utime+stime per request, warmup included) and added p99 (configuration − no mesh, open loop, coordinated-omission corrected) at 1000 req/s. RSS idle: after start-up, one check request per protocol and a quiet interval of the agents (see "Proxies when idle"); after load: the highest sample during this protocol\'s 1000 req/s and closed-loop runs. The opaque rows carry the same requests as TCP (their anchor is the HAProxy TCP pair); the Weft agents serve both of a mode\'s rows, so their idle RSS is the same process.\n',
    markdownTable(['protocol', 'path', 'closed-loop req/s', 'vs HAProxy L7 pair', 'CPU µs/req at 1000 req/s (n1 / n2)', 'added p99 ms at 1000 req/s', 'RSS idle MiB (n1 / n2)', 'RSS after load MiB (n1 / n2)'], rows),
  ];
}
