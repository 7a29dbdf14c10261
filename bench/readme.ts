// Writes its section of bench/README.md and the SVG charts from one results file: medians over
// rounds, ratios to the no-mesh baseline and to both HAProxy pairs, and where the targets stand
// (issue 19's data-plane targets, issue 10's control ones). The tables themselves are in
// workload-tables.ts and l7-anchor.ts, the targets in targets.ts; this file is the prose and the
// order.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { formatNumber, markdownTable } from './lib/report.ts';
import type { BenchResults } from './results.ts';
import { l7AnchorSection } from './l7-anchor.ts';
import { dateOf, statusOf, targets } from './targets.ts';
import { telemetryCostSection } from './telemetry-cost.ts';
import { bulkTable, idleTable, latencyTable, memoryTable, rateChart, throughputTable, type Report } from './workload-tables.ts';
import type { HttpWorkload, Workload } from './workloads.ts';

const la1 = (v: number): string => formatNumber(v, 1);

/** The command line a request workload ran, for the paragraph above its table. */
function loadCommand(w: HttpWorkload): string {
  const t = w.protocol === 'h1' ? '' : ` --transport ${w.protocol}`;
  const conc = w.concurrency === undefined ? '' : ` --concurrency ${w.concurrency}`;
  return `\`bench/lib/load-cli.ts${t} --rate ${w.rate}${w.newConnection ? ' --new-connection' : ''} --connections ${w.connections}${conc}\``;
}

function protocolNote(w: HttpWorkload): string {
  if (w.protocol === 'h2') return ' HTTP/2 with prior knowledge (h2c) to `tests/apps/l7-server.ts --h2-port` (`/chunked/1024`); the L7 rows detect the preface and route each stream, the opaque rows and the HAProxy TCP pair carry the connection as TCP, the HAProxy L7 pair detects the preface and carries each stream as an HTTP/2 stream between the nodes.';
  if (w.protocol === 'grpc') return ' gRPC unary calls (`/weft.test.Echo/Unary`, HTTP/2, `grpc-status` checked) to `tests/apps/grpc-server.ts` (grpc-js); the server\'s own cost is a ceiling every row shares (see the no-mesh row). The HAProxy L7 pair carries each call as an HTTP/2 stream, trailers included.';
  if (w.bytes > 1024) return ` \`/bytes/${w.bytes}\` on \`tests/apps/http-server.ts\`: the proxies move ${w.bytes / 1024} KiB per response.`;
  return '';
}

function workloadSection(r: BenchResults, w: Workload, rep: Report, link: (f: string) => string): void {
  const md = rep.md;
  md.push(`### ${w.title}\n`);
  const svg = `${w.id}.svg`;
  if (w.kind === 'bulk') {
    md.push('`tests/apps/tcp-client.ts --mode source`: the server pod streams the bytes, the client hashes them (SHA-256) as they arrive; Gb/s over the whole connection, set-up included. The client\'s hashing is a ceiling every row shares (see the no-mesh row).\n');
    bulkTable(r, w, rep, svg);
  } else if (w.kind === 'idle') {
    md.push(`\`bench/lib/hold-cli.ts --connections ${w.connections} --parallel ${w.parallel}\`: opens ${w.connections.toLocaleString('en-US')} HTTP/1.1 connections from the client pod (one request each, so every hop has set the connection up), holds them idle ${w.settleS} s, then reads each proxy's VmRSS; per 1000 connections = (held − before) / held × 1000. Every process along the path runs with \`RLIMIT_NOFILE\` at the machine's hard limit (prlimit; 20 000 on the development machine, where raising it is not permitted): HAProxy n1 holds both sides of each connection, so it may run out first. It runs first, on fresh proxies: a V8 heap grown by earlier load would absorb the connections and hide their cost. The L7 and opaque rows of a mode share the same agents: after a row lets go of its connections, the next one waits for the agents' quiet interval (two ticks of their memory reclaim, \`WEFT_MEMORY_RECLAIM_MS\`, \`bench/agent-quiet.ts\`), so it starts from an agent that has been idle, not from the previous row's connections two seconds gone — runs up to 2026-12-07 14:48 UTC waited 2 s, and their opaque row measured 10 000 opaque connections on top of what 10 000 L7 ones had just left. Its "RSS before" is that starting point. ${w.rounds ?? r.rounds} round(s).\n`);
    idleTable(r, w, rep, svg);
  } else if (w.rate === 0) {
    md.push(`${loadCommand(w)}: ${w.durationS} s after ${w.warmupS} s warmup; latencies here are service times (closed loop).${protocolNote(w)}\n`);
    throughputTable(r, w, rep, svg);
  } else {
    md.push(`${loadCommand(w)}: open loop, latency from each request's scheduled send time (corrected for coordinated omission), ${w.durationS} s measured after ${w.warmupS} s warmup. Added latency = configuration − no mesh.${protocolNote(w)}${w.newConnection ? ' Every request opens a TCP connection (Connection: close): through Weft that is a new HBONE stream on the pooled mTLS connection; through HAProxy a new TLS connection between the nodes (HAProxy\'s server-side TLS session reuse is on by default, so many of those may be resumptions; the bench does not count them).' : ''}\n`);
    latencyTable(r, w, rep, svg);
  }
  md.push(`![${w.title}](${link(svg)})\n`);
}

export function renderReport(r: BenchResults, readmeDir: string, outDir: string, jsonName: string): Report {
  const rep: Report = { md: [], svgs: new Map() };
  const link = (file: string): string => relative(readmeDir, join(outDir, file));
  const m = r.machine;
  const md = rep.md;
  md.push('## Suite: no mesh vs Weft vs HAProxy (`npm run bench`)\n');
  md.push(`This section is generated by \`node bench/run.ts\`${r.profile === 'short' ? '' : ` --${r.profile}`} — do not edit by hand; the prose lives in \`bench/readme.ts\`.\n`);
  md.push('### This run\n');
  md.push(`- Date: ${r.date} (profile **${r.profile}**, ${r.rounds} rounds per workload and configuration unless a section says otherwise, ${r.durationS} s in all). Raw data: [${jsonName}](${link(jsonName)}).`);
  md.push(`- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, HAProxy ${m.haproxy}.`);
  const la = m.loadAverage === undefined ? '' : ` The 1-minute load average during the runs was ${la1(m.loadAverage.min)}–${la1(m.loadAverage.max)} (median ${la1(m.loadAverage.median)}, ${m.loadAverage.samples} samples) on ${m.cores} cores: anything above ${m.cores} means processes waited for a core, and that waiting lands in the latency tails.`;
  const who = m.shared
    ? `**The machine was shared**: other engineers ran test suites on the same ${m.cores} cores while this ran, so absolute figures are noisy.`
    : `Nothing else ran on the machine (\`--quiet-machine\`): the load below is the benchmark's own load generator, servers and proxies.`;
  md.push(`- ${who}${la} Configurations run interleaved (A B C A B C …) and every figure is the **median over rounds** (with two rounds, their mean); compare rows within a table rather than across runs.`);
  md.push(r.agentWorkers === 'default'
    ? `- Core budget: the Weft agent runs with its default, \`WEFT_WORKERS=0\` (on a node of up to 2 cores the proxy runs inline on the main thread, one V8 isolate; with more cores, a worker per core) and HAProxy with \`nbthread ${r.workers}\` (one thread per core of this machine), one of each per node.`
    : `- Core budget: the Weft agent runs \`WEFT_WORKERS=${r.agentWorkers ?? r.workers}\` proxy workers and HAProxy \`nbthread ${r.workers}\` (one per core of this machine), one of each per node.`);
  md.push('- Load generator, servers, both proxies and the kernel\'s forwarding all share those cores: the maximum-throughput figures are the throughput of the whole system, not of a proxy alone.\n');

  md.push('### Targets (data plane: issue 19; control: issue 10)\n');
  md.push('Goals, not assertions: the bench never fails on them. Data-plane figures are from this run (medians over rounds): the L7 rows against the HAProxy pair in HTTP mode (h2 over TLS 1.3 with client certificates between the nodes, the shape of Weft\'s L7 hop), the opaque rows against the HAProxy TCP pair, memory as absolute limits. Control figures come from the newest saved result of their script, with its own date.\n');
  md.push(markdownTable(['target', 'measured', 'status', 'measured on'], targets(r).map((t) => [t.text, t.measured, statusOf(t), dateOf(t, r.date)])));
  md.push(...l7AnchorSection(r));

  md.push('### Configurations\n');
  md.push(markdownTable(['configuration', 'path of a request'], r.configs.map((c) => [c.label, c.path])));
  md.push(...telemetryCostSection(r));

  md.push('### Memory and CPU per proxy process\n');
  md.push('VmRSS idle (before any load), the highest sample during the 1000 req/s HTTP/1.1 runs, the highest during any request workload, with the idle-connection workload\'s connections held, and the growth per 1000 of them; CPU (utime+stime) per 1000 requests at 1000 req/s (ms of CPU per 1000 requests = µs per request). The idle-connection workload runs first; the agents give back what it took in their first quiet interval (agent/memory-reclaim.ts), which the suite waits for after each of its rows, while HAProxy\'s pools keep theirs.\n');
  memoryTable(r, rep);

  const byRate = rateChart(r);
  if (byRate !== undefined) {
    rep.svgs.set('http-p99-by-rate.svg', byRate);
    md.push('### p99 by offered rate (HTTP/1.1, 1 KiB)\n');
    md.push(`![p99 by offered rate](${link('http-p99-by-rate.svg')})\n`);
  }

  for (const w of r.workloads) workloadSection(r, w, rep, link);

  md.push('### Proxies when idle\n');
  md.push('After start-up, one check request per configuration and protocol, and a quiet interval of the agents\' own (two ticks of their memory reclaim, `WEFT_MEMORY_RECLAIM_MS`, 10 s by default: the first may still cover the checks), before any load: VmRSS, and CPU over 3 s of no traffic (timers, the config stream) in % of one core. The agents read are the default ones every Weft row but the telemetry rows runs: those rows restart the agents with settings of their own, so they are checked first and have no idle reading. Runs up to 2026-12-07 14:48 UTC read it 1 s after the checks, before any quiet interval, and of the agents the last-checked row had started — the traced ones (OTLP export on) — under every Weft row\'s label. About 47–52 MiB of an agent\'s RSS is file-backed: pages of the node binary (code, read-only data) that start-up and TLS touch, shared with every node process on the host and reclaimable; each proxy worker adds an isolate of its own (~35 MiB idle). `/config_dump/memory` splits RSS into anonymous and file-backed pages and the main heap by V8 space; `bench/agent-memory.ts` measures idle and 10 000-connection memory of two builds or settings without the rest of the suite (docs/design-notes.md, "What an agent\'s memory is made of").\n');
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
    '- Two testbeds (`tests/testbed`, network namespaces, names `bench-run` and `ebpf-bench-run`) with two nodes each, one per redirect mode, both up for the whole run; each configuration has a client pod on n1 and a server pod on n2 in its own namespace. Control and one agent per node run on each (the Mesh fixture, `redirectMode` iptables or ebpf); only the Weft namespaces are meshed, so the no-mesh and HAProxy pods are untouched by the agents. The eBPF testbed\'s agents idle while the other rows run, and the other way round.',
    '- Servers in each server pod: `tests/apps/http-server.ts` (HTTP/1.1, `/bytes/<n>`), `tests/apps/l7-server.ts --h2-port` (h2c), `tests/apps/grpc-server.ts` (grpc-js) and `tests/apps/tcp-server.ts`. The opaque rows serve on ports listed in `WEFT_OPAQUE_PORTS`; the L7 rows on ports the agents sniff. Clients run in the client pod: `bench/lib/load-cli.ts` (raw node:net transport for HTTP/1.1, node:http2 for HTTP/2 and gRPC), `bench/lib/hold-cli.ts` and `tests/apps/tcp-client.ts`.',
    '- Descriptor limits: servers, the idle-connection client and both agents of each testbed get `RLIMIT_NOFILE` at the hard limit (`prlimit`); HAProxy refuses to start with a `maxconn` it cannot fit, so it gets `maxconn` = (hard limit − 64) / 2 (9 968 at a 20 000 limit): a little under 10 000 held connections through HAProxy n1 are possible.',
    '- HAProxy (Debian package, installed by the bench when missing), two pairs, one process per node each (`bench/haproxy.ts`). **TCP pair** (`mode tcp`, the opaque rows\' anchor): n1 a plain frontend, its backend connects to n2 with `ssl crt … ca-file … verify required verifyhost …`, TLS 1.3 only; n2 `bind … ssl crt … ca-file … verify required` and forwards the bytes to the server pod, one TLS connection between the nodes per client connection. **L7 pair** (`mode http`, the L7 rows\' anchor): n1 parses HTTP/1.1 (and h2c with prior knowledge, detected from the preface) and sends each request as an HTTP/2 stream to n2 over TLS 1.3 with its client certificate (`alpn h2`, `http-reuse always`: requests from every client connection share the pooled connections, as Weft pools its mTLS sessions); n2 (`bind … ssl … verify required alpn h2`) speaks HTTP/1.1 to the HTTP/1.1 server and h2c (`proto h2`) to the h2c and gRPC servers. It cannot carry a raw TCP stream, so the bulk workload leaves it out. Certificates are ECDSA P-256 with a SPIFFE URI SAN, like Weft\'s workload certificates (made with `tests/common/test-pki.ts`). `tests/bench/haproxy-http.test.ts` checks the L7 pair\'s shape on real haproxy processes (what n1 sends, what n2 accepts, curl and grpc-js end to end).',
    '- **Redirection for HAProxy**: the client dials the server pod\'s IP and port exactly as in the other rows; an iptables `nat PREROUTING -s <client pod> --dport … -j REDIRECT` rule in n1\'s namespace hands the connection to the local HAProxy. That is the same class of kernel work as Weft\'s TPROXY rule (a netfilter match and local delivery; REDIRECT adds conntrack NAT), and the client process is identical in every row. HAProxy keeps one advantage: a fixed backend per port, where Weft looks up the original destination per connection.',
    '- Proxy CPU: utime+stime of each proxy process (all threads) from `/proc/<pid>/stat` before and after a run, divided by every request the generator sent (warmup included, since the proxies served those too): CPU ms per 1000 requests, which is also µs per request. Memory: VmRSS from `/proc/<pid>/status`, sampled every 250 ms; the tables show the highest sample.',
    '- Control figures (targets table): `bench/ca-signing.ts` and `bench/control-scale.ts` save their results as `bench/results/<script>-<date>.json`; the short profile runs ca-signing (seconds) and reads the newest control-scale result, `--full` runs both.',
    '- Rows that need the agents set differently (telemetry off, every request traced) share the iptables mesh: before such a row runs, both of its agents restart with its settings, and before the next meshed row there with the default ones again (`bench/agent-env.ts`). Restarts happen outside the measured windows; the warmup covers the new agents\' first connections and certificates.',
    '- Medians over rounds; a failed run is kept in the JSON with its error and left out of the medians.',
    '- Run it: `npm run bench` (short profile: a subset of rates and workloads, 2 rounds, eBPF rows on the fixed-rate, throughput, bulk and memory workloads, HTTP/2 and gRPC at 1000 req/s and closed loop for the issue-19 targets; about 20 minutes on a quiet 2-core machine, 35 at a load average of 15, a fifth of it opening 10 000 connections six times), `npm run bench -- --full` (every rate the issue names: 500/1000/2000/5000 req/s, 64 KiB at two rates, new connections at two rates, HTTP/2 and gRPC at two rates and closed loop, a 1 GiB stream, 2 rounds of 8 s after 2 s warmup, eBPF and telemetry rows where the short profile has them, plus ca-signing and control-scale; about 40 minutes), `node bench/run.ts --smoke --out /tmp/x` (every workload once, briefly: what `tests/bench/bench-smoke.test.ts` runs). `--no-ebpf` leaves the eBPF testbed out. Root is required.',
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

