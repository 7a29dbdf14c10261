// The README's "what telemetry costs" table: the L7 rows with telemetry off, on (the default:
// metrics and tap, no span export) and with every request traced, side by side per HTTP workload.
import { formatNumber, markdownTable, percentChange, type Cell } from './lib/report.ts';
import { cpuPerRequest, med, proxyNames, type BenchResults } from './results.ts';

const OFF = 'weft-l7-notel';
const ON = 'weft-l7';
const TRACED = 'weft-l7-traced';

const fmt = (v: number | undefined, d = 2): Cell => (v === undefined ? 'n/a' : formatNumber(v, d));
const delta = (a: number | undefined, b: number | undefined, unit: string): string => {
  if (a === undefined || b === undefined) return 'n/a';
  const d = a - b;
  return `${d >= 0 ? '+' : ''}${formatNumber(d, 2)}${unit} (${percentChange(a, b)})`;
};

/** Markdown lines, or none when the run did not include the three rows. */
export function telemetryCostSection(r: BenchResults): string[] {
  const ids = new Set(r.configs.map((c) => c.id));
  if (![OFF, ON, TRACED].every((c) => ids.has(c))) return [];
  const rows: Cell[][] = [];
  for (const w of r.workloads) {
    if (w.kind !== 'http') continue;
    const proto = w.protocol === 'h1' ? (w.bytes === 1024 ? '' : `${w.bytes / 1024} KiB, `) : `${w.protocol === 'h2' ? 'HTTP/2' : 'gRPC'}, `;
    const name = proto + (w.rate === 0 ? 'closed loop' : `${w.rate} req/s${w.newConnection ? ', new connections' : ''}`);
    const agentsCpu = (c: string): number | undefined => {
      const names = proxyNames(r, c);
      const per = names.map((p) => med(r, w.id, c, (x) => cpuPerRequest(x, p)));
      return per.length === 0 || per.some((v) => v === undefined) ? undefined : per.reduce((a: number, b) => a + (b ?? 0), 0);
    };
    const measures: Array<[string, (c: string) => number | undefined, string]> = w.rate === 0
      ? [['req/s', (c) => med(r, w.id, c, (x) => x.load?.achievedRps), ''], ['agents CPU µs/req (n1 + n2)', agentsCpu, ' µs']]
      : [['p50 ms', (c) => med(r, w.id, c, (x) => x.load?.p50), ' ms'], ['p99 ms', (c) => med(r, w.id, c, (x) => x.load?.p99), ' ms'], ['agents CPU µs/req (n1 + n2)', agentsCpu, ' µs']];
    for (const [label, get, unit] of measures) {
      const off = get(OFF);
      const on = get(ON);
      const traced = get(TRACED);
      rows.push([name, label, fmt(off), fmt(on), fmt(traced), delta(on, off, unit), delta(traced, on, unit)]);
    }
  }
  return [
    '### What telemetry costs (L7 path)\n',
    'The same L7 path three ways, in the same run: `WEFT_TELEMETRY=false` (nothing recorded), the default (metrics and tap recorded per request, no span export) and every request traced (`OTEL_TRACES_SAMPLER=always_on`, two spans per request exported as OTLP/HTTP protobuf (the default) to a counting sink on n1, which shares the machine too). Medians over rounds; on this shared, noisy machine differences of a few percent are within the noise (see each workload\'s per-round spread above).\n',
    markdownTable(['workload', 'measure', 'telemetry off', 'default', 'every request traced', 'metrics + tap (default − off)', 'tracing (traced − default)'], rows),
  ];
}
