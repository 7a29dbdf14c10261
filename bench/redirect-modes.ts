// iptables (TPROXY) vs eBPF (tc + bpf_sk_assign) redirection, one run: the same two-node mesh
// per mode, a client pod on n1 and servers on n2 (cross-node, HBONE) and on n1 (same node).
//   node bench/redirect-modes.ts [--duration 5] [--rate 200] [--mib 64]   (root; after node scripts/build.ts)
// Prints one JSON line per mode and a Markdown table. Measures only; asserts nothing.
import { parseArgs } from 'node:util';
import { appPath, runApp } from '../tests/apps/spawn-app.ts';
import { Testbed } from '../tests/testbed/testbed.ts';
import { Mesh } from '../tests/testbed/mesh.ts';
import type { RedirectMode } from '../tests/ebpf/mode.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rate: { type: 'string', default: '200' }, mib: { type: 'string', default: '64' } } });
const duration = Number(values.duration);
const rate = Number(values.rate);
const mib = Number(values.mib);

interface Row {
  mode: RedirectMode;
  path: string;
  p50: number;
  p99: number;
  maxRps: number;
  mibPerS: number;
}

function lastJson(lines: Array<Record<string, unknown>>): Record<string, unknown> {
  const last = lines[lines.length - 1];
  if (last === undefined) throw new Error('the client printed nothing');
  return last;
}

async function measure(mode: RedirectMode): Promise<Row[]> {
  const tb = await Testbed.create({
    name: `ebpf-bench-${mode}`,
    nodes: [
      { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'local', namespace: 'demo' }] },
      { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
    ],
  });
  let mesh: Mesh | undefined;
  try {
    mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, redirectMode: mode });
    const rows: Row[] = [];
    for (const [path, pod] of [['cross-node', 'server'], ['same-node', 'local']] as const) {
      const ip = tb.pod(pod).ip;
      await mesh.startApp(pod, 'http-server.ts', ['--port', '8080']);
      await mesh.startApp(pod, 'tcp-server.ts', ['--port', '9090']);
      const load = (r: number, conns: number) => mesh!.runApp('client', '../../bench/lib/load-cli.ts',
        ['--url', `http://${ip}:8080/`, '--rate', String(r), '--duration', String(duration), '--connections', String(conns), '--warmup', '1'], (duration + 30) * 1000);
      const lat = lastJson((await load(rate, 4)).stdout);
      const max = lastJson((await load(0, 8)).stdout);
      const tcp = lastJson((await runApp(appPath('tcp-client.ts'), ['--host', ip, '--port', '9090', '--mode', 'sink', '--bytes', String(mib * 1024 * 1024)], 120_000,
        (cmd, a) => tb.spawn(tb.pod('client').netns, cmd, a))).stdout);
      if (tcp.ok !== true) throw new Error(`tcp transfer failed: ${JSON.stringify(tcp)}`);
      rows.push({
        mode, path,
        p50: lat.p50 as number, p99: lat.p99 as number,
        maxRps: Math.round(max.achievedRps as number),
        mibPerS: Math.round((mib / ((tcp.durationMs as number) / 1000)) * 10) / 10,
      });
    }
    return rows;
  } finally {
    await mesh?.stop();
    await tb.teardown();
  }
}

const all: Row[] = [];
for (const mode of ['iptables', 'ebpf'] as const) {
  const rows = await measure(mode);
  for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
  all.push(...rows);
}
process.stdout.write(`\n| mode | path | p50 ms @${rate} req/s | p99 ms | max req/s (8 conns) | TCP MiB/s (${mib} MiB) |\n|---|---|---:|---:|---:|---:|\n`);
for (const r of all) process.stdout.write(`| ${r.mode} | ${r.path} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.maxRps} | ${r.mibPerS} |\n`);
