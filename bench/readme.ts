// Writes its section of bench/README.md and the SVG charts from one results file: medians over rounds, ratios to
// the no-mesh baseline and to HAProxy, and where the issue-10 targets stand.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { formatNumber, markdownTable, ratio, svgBarChart, svgLineChart, type Cell } from './lib/report.ts';
import { cpuPerRequest, med, proxyNames, runsOf, type BenchResults } from './results.ts';
import type { HttpWorkload, Workload } from './workloads.ts';
import { telemetryCostSection } from './telemetry-cost.ts';

const BASE = 'no-mesh';
const PEER = 'haproxy';
const WEFT = 'weft-opaque';
const L7 = 'weft-l7';

const n2 = (v: number | undefined): Cell => (v === undefined ? undefined : Math.round(v * 1000) / 1000);
const signed = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${formatNumber(v, 3)}`);
const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);

interface Report {
  md: string[];
  svgs: Map<string, string>;
}

function proxyCpu(r: BenchResults, w: string, c: string): string {
  const names = proxyNames(r, c);
  if (names.length === 0) return '—';
  return names.map((p) => `${p.replace(/^\S+ /, '')} ${formatNumber(med(r, w, c, (x) => cpuPerRequest(x, p)) ?? NaN, 1)}`).join(' / ');
}

function proxyRss(r: BenchResults, w: string, c: string): string {
  const names = proxyNames(r, c);
  if (names.length === 0) return '—';
  return names.map((p) => `${p.replace(/^\S+ /, '')} ${formatNumber(med(r, w, c, (x) => x.proxies.find((q) => q.name === p)?.rssMaxMiB) ?? NaN, 1)}`).join(' / ');
}

/** The p99 range over rounds: on a shared machine one bad round moves a tail a lot; show how much. */
function spread(r: BenchResults, w: string, c: string): string {
  const v = runsOf(r, w, c).map((x) => x.load?.p99).filter((x): x is number => x !== undefined);
  return v.length === 0 ? 'n/a' : `${formatNumber(Math.min(...v), 2)}–${formatNumber(Math.max(...v), 2)}`;
}

function latencyTable(r: BenchResults, w: HttpWorkload, rep: Report, chart: string): void {
  const p = (c: string, k: 'p50' | 'p90' | 'p99' | 'p999'): number | undefined => med(r, w.id, c, (x) => x.load?.[k]);
  const rows: Cell[][] = r.configs.map((c) => [
    c.label,
    n2(med(r, w.id, c.id, (x) => x.load?.achievedRps)),
    n2(p(c.id, 'p50')), n2(p(c.id, 'p90')), n2(p(c.id, 'p99')), n2(p(c.id, 'p999')),
    c.id === BASE ? '—' : signed(diff(p(c.id, 'p50'), p(BASE, 'p50'))),
    c.id === BASE ? '—' : signed(diff(p(c.id, 'p99'), p(BASE, 'p99'))),
    c.id === PEER ? '—' : ratio(p(c.id, 'p99'), p(PEER, 'p99')),
    spread(r, w.id, c.id),
    n2(med(r, w.id, c.id, (x) => x.load?.errors)),
    proxyCpu(r, w.id, c.id),
    proxyRss(r, w.id, c.id),
  ]);
  rep.md.push(markdownTable(
    ['configuration', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'added p50 ms', 'added p99 ms', 'p99 vs HAProxy', 'p99 per round (min–max)', 'errors', 'proxy CPU µs/req (n1 / n2)', 'proxy max RSS MiB (n1 / n2)'],
    rows,
  ));
  rep.svgs.set(chart, svgLineChart({
    title: w.title.replace('HTTP/1.1 ', ''),
    labels: ['p50', 'p90', 'p99', 'p99.9'],
    series: r.configs.map((c) => ({ name: c.label, values: (['p50', 'p90', 'p99', 'p999'] as const).map((k) => p(c.id, k) ?? NaN) })),
    yLabel: 'latency (ms)',
    width: 720,
  }));
}

function throughputTable(r: BenchResults, w: HttpWorkload, rep: Report, chart: string): void {
  const rps = (c: string): number | undefined => med(r, w.id, c, (x) => x.load?.achievedRps);
  rep.md.push(markdownTable(
    ['configuration', 'req/s', 'vs no mesh', 'vs HAProxy', 'p50 ms', 'p99 ms', 'errors', 'proxy CPU µs/req (n1 / n2)', 'proxy max RSS MiB (n1 / n2)'],
    r.configs.map((c) => [
      c.label, n2(rps(c.id)), ratio(rps(c.id), rps(BASE)), ratio(rps(c.id), rps(PEER)),
      n2(med(r, w.id, c.id, (x) => x.load?.p50)), n2(med(r, w.id, c.id, (x) => x.load?.p99)),
      n2(med(r, w.id, c.id, (x) => x.load?.errors)), proxyCpu(r, w.id, c.id), proxyRss(r, w.id, c.id),
    ]),
  ));
  rep.svgs.set(chart, svgBarChart({
    title: 'Maximum HTTP throughput (req/s, closed loop)', labels: ['req/s'],
    series: r.configs.map((c) => ({ name: c.label, values: [rps(c.id) ?? NaN] })), yLabel: 'requests per second', width: 520,
  }));
}

function bulkTable(r: BenchResults, w: Workload, rep: Report, chart: string): void {
  const g = (c: string): number | undefined => med(r, w.id, c, (x) => (x.bulk?.ok ? x.bulk.gbps : undefined));
  rep.md.push(markdownTable(
    ['configuration', 'Gb/s', 'vs no mesh', 'vs HAProxy', 'proxy CPU s (n1 / n2)'],
    r.configs.map((c) => {
      const names = proxyNames(r, c.id);
      const cpu = names.length === 0 ? '—' : names.map((p) => `${p.replace(/^\S+ /, '')} ${formatNumber((med(r, w.id, c.id, (x) => x.proxies.find((q) => q.name === p)?.cpuUs) ?? NaN) / 1e6, 2)}`).join(' / ');
      return [c.label, n2(g(c.id)), ratio(g(c.id), g(BASE)), ratio(g(c.id), g(PEER)), cpu];
    }),
  ));
  rep.svgs.set(chart, svgBarChart({
    title: w.title, labels: ['Gb/s'], series: r.configs.map((c) => ({ name: c.label, values: [g(c.id) ?? NaN] })), yLabel: 'Gb/s', width: 520,
  }));
}

interface Target {
  text: string;
  measured: string;
  met: boolean | undefined;
}

function targets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const at1000 = r.workloads.find((w) => w.kind === 'http' && w.rate === 1000 && !w.newConnection);
  const max = r.workloads.find((w) => w.kind === 'http' && w.rate === 0);
  const bulk = r.workloads.find((w) => w.kind === 'bulk');
  const agents = proxyNames(r, L7);
  if (at1000 !== undefined) {
    // HTTP requests take the L7 path: that is the row the latency, CPU and memory targets are about.
    const added = diff(med(r, at1000.id, L7, (x) => x.load?.p99), med(r, at1000.id, BASE, (x) => x.load?.p99));
    out.push({ text: 'added p99 at 1000 req/s, HTTP 1 KiB ≤ +0.3 ms (L7 path)', measured: `${signed(added)} ms`, met: added === undefined ? undefined : added <= 0.3 });
    const peerAdded = diff(med(r, at1000.id, PEER, (x) => x.load?.p99), med(r, at1000.id, BASE, (x) => x.load?.p99));
    out.push({
      text: 'L7 added p99 at 1000 req/s ≤ 2× HAProxy\'s added p99 (issue 4)',
      measured: `${signed(added)} ms vs ${signed(peerAdded)} ms`,
      met: added === undefined || peerAdded === undefined ? undefined : added <= 2 * Math.max(peerAdded, 0),
    });
    const cpus = agents.map((a) => [a, med(r, at1000.id, L7, (x) => cpuPerRequest(x, a))] as const);
    const worst = Math.max(...cpus.map(([, v]) => v ?? NaN));
    out.push({ text: 'CPU per request per agent ≤ 50 µs (at 1000 req/s)', measured: cpus.map(([a, v]) => `${a} ${formatNumber(v ?? NaN, 1)} µs`).join(', '), met: Number.isFinite(worst) ? worst <= 50 : undefined });
    const rss = agents.map((a) => [a, med(r, at1000.id, L7, (x) => x.proxies.find((q) => q.name === a)?.rssMaxMiB)] as const);
    const top = Math.max(...rss.map(([, v]) => v ?? NaN));
    out.push({ text: 'agent RSS ≤ 64 MB at 1000 req/s', measured: rss.map(([a, v]) => `${a} ${formatNumber(v ?? NaN, 1)} MiB`).join(', '), met: Number.isFinite(top) ? top * 1.048576 <= 64 : undefined });
  }
  if (max !== undefined) {
    const w = med(r, max.id, WEFT, (x) => x.load?.achievedRps);
    const h = med(r, max.id, PEER, (x) => x.load?.achievedRps);
    out.push({ text: 'opaque ≥ 75% of HAProxy throughput (HTTP req/s, closed loop)', measured: w && h ? `${formatNumber((w / h) * 100, 0)}%` : 'n/a', met: w && h ? w / h >= 0.75 : undefined });
    const l = med(r, max.id, L7, (x) => x.load?.achievedRps);
    out.push({ text: 'L7 ≥ 50% of HAProxy throughput (HTTP req/s, closed loop)', measured: l && h ? `${formatNumber((l / h) * 100, 0)}%` : 'n/a', met: l && h ? l / h >= 0.5 : undefined });
  }
  if (bulk !== undefined) {
    const g = (c: string): number | undefined => med(r, bulk.id, c, (x) => (x.bulk?.ok ? x.bulk.gbps : undefined));
    const w = g(WEFT);
    const h = g(PEER);
    out.push({ text: 'opaque ≥ 75% of HAProxy throughput (one bulk TCP stream)', measured: w && h ? `${formatNumber((w / h) * 100, 0)}%` : 'n/a', met: w && h ? w / h >= 0.75 : undefined });
  }
  return out;
}

export function renderReport(r: BenchResults, readmeDir: string, outDir: string, jsonName: string): Report {
  const rep: Report = { md: [], svgs: new Map() };
  const link = (file: string): string => relative(readmeDir, join(outDir, file));
  const m = r.machine;
  const md = rep.md;
  md.push('## Suite: no mesh vs Weft vs HAProxy (`npm run bench`)\n');
  md.push(`This section is generated by \`node bench/run.ts\`${r.profile === 'short' ? '' : ` --${r.profile}`} — do not edit by hand; the prose lives in \`bench/readme.ts\`.\n`);
  md.push('### This run\n');
  md.push(`- Date: ${r.date} (profile **${r.profile}**, ${r.rounds} rounds per workload and configuration, ${r.durationS} s in all). Raw data: [${jsonName}](${link(jsonName)}).`);
  md.push(`- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, HAProxy ${m.haproxy}.`);
  md.push(`- **The machine was shared**${m.shared ? '' : ' (not on this run)'}: four other engineers ran test suites on the same ${m.cores} cores while this ran, so absolute figures are noisy. Configurations run interleaved (A B C A B C …) and every figure is the **median over rounds**; compare rows within a table rather than across runs.`);
  md.push(`- Core budget: the Weft agent runs \`WEFT_WORKERS=${r.workers}\` proxy workers and HAProxy \`nbthread ${r.workers}\` (one per core of this machine), one of each per node.`);
  md.push('- Load generator, servers, both proxies and the kernel\'s forwarding all share those cores: the maximum-throughput figures are the throughput of the whole system, not of a proxy alone.\n');

  md.push('### Targets (issue 10)\n');
  md.push(markdownTable(['target', 'measured', 'status'], targets(r).map((t) => [t.text, t.measured, t.met === undefined ? 'not measured' : t.met ? 'met' : 'not met'])));

  md.push('### Configurations\n');
  md.push(markdownTable(['configuration', 'path of a request'], r.configs.map((c) => [c.label, c.path])));
  md.push(...telemetryCostSection(r));

  for (const w of r.workloads) {
    md.push(`### ${w.title}\n`);
    const svg = `${w.id}.svg`;
    if (w.kind === 'bulk') {
      md.push('`tests/apps/tcp-client.ts --mode source`: the server pod streams the bytes, the client hashes them (SHA-256) as they arrive; Gb/s over the whole connection, set-up included. The client\'s hashing is a ceiling every row shares (see the no-mesh row).\n');
      bulkTable(r, w, rep, svg);
    } else if (w.rate === 0) {
      md.push(`\`bench/lib/load-cli.ts --rate 0 --connections ${w.connections}\`: ${w.durationS} s after ${w.warmupS} s warmup; latencies here are service times (closed loop).\n`);
      throughputTable(r, w, rep, svg);
    } else {
      md.push(`\`bench/lib/load-cli.ts --rate ${w.rate}${w.newConnection ? ' --new-connection' : ''} --connections ${w.connections}\`: open loop, latency from each request's scheduled send time (corrected for coordinated omission), ${w.durationS} s measured after ${w.warmupS} s warmup. Added latency = configuration − no mesh.${w.newConnection ? ' Every request opens a TCP connection (Connection: close): through Weft that is a new HBONE stream on the pooled mTLS connection; through HAProxy a new TLS connection between the nodes (HAProxy\'s server-side TLS session reuse is on by default, so many of those may be resumptions; the bench does not count them).' : ''}\n`);
      latencyTable(r, w, rep, svg);
    }
    md.push(`![${w.title}](${link(svg)})\n`);
  }

  md.push('### Proxies when idle\n');
  md.push('After start-up and one check request per configuration, before any load: VmRSS, and CPU over 3 s of no traffic (timers, the config stream) in % of one core.\n');
  md.push(markdownTable(['configuration', 'process', 'RSS MiB', 'idle CPU %'], r.idle.map((i) => [
    r.configs.find((c) => c.id === i.config)?.label ?? i.config, i.name, Math.round(i.rssMiB * 10) / 10, i.cpuPercent,
  ])));

  md.push('### Where the time goes (Weft agent)\n');
  if (r.hotSpots.length === 0) md.push('Not profiled in this run (`--no-profile` or the smoke profile).\n');
  for (const h of r.hotSpots) {
    const own = h.weftPercent === undefined ? '' : ` Self time in Weft's own code (\`agent/\`, \`common/\`, \`control/\`): ${formatNumber(h.weftPercent, 1)}%.`;
    md.push(`Agent ${h.node} under ${h.workload}, \`NODE_OPTIONS=--cpu-prof\` (${h.files} profile files: main thread and workers; ${formatNumber(h.totalMs / 1000, 1)} s of non-idle samples).${own} Top 5 functions by self time, mapped through the bundle's source map:\n`);
    md.push(markdownTable(['function', 'where', 'self ms', 'share'], h.top.map((f) => [f.name, f.location, f.selfMs, `${formatNumber(f.percent, 1)}%`])));
  }
  if (r.hotSpots.length > 0) {
    md.push('How to read it: only the steady state is counted (samples from after warmup to the end of the load). `(program)` is native time with no JavaScript frame on the stack — epoll, OpenSSL decrypting records as they arrive, and nghttp2 parsing frames, which Node does in C++ before any JavaScript callback runs. `writeBuffer` is the native socket-write binding; on a TLS socket it encrypts (SSL_write) synchronously, so it is mostly encryption. Functions under `node:` are Node\'s own stream plumbing; functions under `agent/` are Weft\'s code.\n');
  }

  md.push('### How it is measured\n');
  md.push([
    '- One testbed (`tests/testbed`, network namespaces, name `bench-run`) with two nodes; each configuration has a client pod on n1 and a server pod on n2 in its own namespace. Control and one agent per node run throughout (the Mesh fixture); only the `weft` namespace is meshed, so the no-mesh and HAProxy pods are untouched by the agents.',
    '- Servers: `tests/apps/http-server.ts` (`/bytes/1024`) and `tests/apps/tcp-server.ts` in each server pod. Clients run in the client pod: `bench/lib/load-cli.ts` (raw node:net transport) and `tests/apps/tcp-client.ts`.',
    '- HAProxy (Debian package, installed by the bench when missing): one per node, `mode tcp`. n1: a plain frontend; the backend connects to n2 with `ssl crt … ca-file … verify required verifyhost …`, TLS 1.3 only. n2: `bind … ssl crt … ca-file … verify required` and forwards to the server pod. Certificates are ECDSA P-256 with a SPIFFE URI SAN, like Weft\'s workload certificates (made with `tests/common/test-pki.ts`).',
    '- **Redirection for HAProxy**: the client dials the server pod\'s IP and port exactly as in the other rows; an iptables `nat PREROUTING -s <client pod> --dport … -j REDIRECT` rule in n1\'s namespace hands the connection to the local HAProxy. That is the same class of kernel work as Weft\'s TPROXY rule (a netfilter match and local delivery; REDIRECT adds conntrack NAT), and the client process is identical in every row. HAProxy keeps one advantage: a fixed backend per port, where Weft looks up the original destination per connection.',
    '- Proxy CPU: utime+stime of each proxy process (all threads) from `/proc/<pid>/stat` before and after a run, divided by every request the generator sent (warmup included, since the proxies served those too). µs per request equals CPU ms per 1000 requests. Memory: VmRSS from `/proc/<pid>/status`, sampled every 250 ms; the table shows the highest sample.',
    '- Rows that need the agents set differently (telemetry off, every request traced) share the mesh: before such a row runs, both agents restart with its settings, and before the next meshed row with the default ones again (`bench/agent-env.ts`). Restarts happen outside the measured windows; the warmup covers the new agents\' first connections and certificates.',
    '- Medians over rounds; a failed run is kept in the JSON with its error and left out of the medians.',
    '- Run it: `npm run bench` (short profile, about 10 minutes), `npm run bench -- --full` (longer runs, more rounds, 2000 req/s and 500 new connections/s), `node bench/run.ts --smoke --out /tmp/x` (one minute, what `tests/bench/bench-smoke.test.ts` runs). Root is required.',
  ].join('\n') + '\n');
  return rep;
}

const START = '<!-- bench/run.ts: generated from here; edit bench/readme.ts instead -->';
const END = '<!-- bench/run.ts: generated up to here -->';

/** Puts the generated block into the README between its markers, keeping every other section
 * (other benchmarks write their own parts of bench/README.md). */
export function spliceReadme(existing: string, block: string): string {
  const wrapped = `${START}\n${block.trimEnd()}\n${END}`;
  const a = existing.indexOf(START);
  const b = existing.indexOf(END);
  if (a >= 0 && b > a) return existing.slice(0, a) + wrapped + existing.slice(b + END.length);
  if (existing.startsWith('# ')) {
    const eol = existing.indexOf('\n');
    const title = eol < 0 ? existing : existing.slice(0, eol);
    const rest = eol < 0 ? '' : existing.slice(eol + 1).replace(/^\n+/, '');
    return `${title}\n\n${wrapped}\n\n${rest}`;
  }
  return `# Benchmarks\n\n${wrapped}\n${existing === '' ? '' : `\n${existing}`}`;
}

export async function writeReport(r: BenchResults, readmePath: string, outDir: string, jsonName: string): Promise<void> {
  const rep = renderReport(r, dirname(readmePath), outDir, jsonName);
  for (const [file, svg] of rep.svgs) await writeFile(join(outDir, file), svg);
  const existing = await readFile(readmePath, 'utf8').catch(() => '');
  await writeFile(readmePath, spliceReadme(existing, rep.md.join('\n')));
}

