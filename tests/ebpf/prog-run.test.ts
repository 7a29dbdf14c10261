// Unit tier for the eBPF programs: test packets through BPF_PROG_RUN (`bpftool prog run`), the
// verdict and the weft_stats decision counters out. Runs in a network namespace of its own so
// the programs' socket lookups see only the listeners and connections this test makes.
// BPF_PROG_RUN is not tc ingress, so bpf_sk_assign refuses there: a capture shows as its decision
// (outbound / inbound / established) plus drop_assign_failed; the real assignment is exercised by
// tests/agent/redirect/ebpf-testbed.test.ts.
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MAPS, OBJECTS, parseMapDump, planMapLines, statsFromDump } from '../../agent/redirect/ebpf-plan.ts';
import { runOk } from '../testbed/run.ts';
import { progRunBed } from './bpffs.ts';
import { tcpFrame, type TcpPacket } from './packet.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
execFileSync('bash', ['scripts/build-ebpf.sh'], { cwd: root, stdio: 'inherit' });

const NS = 'ebpf-unit-progrun';
const POD = '10.244.1.11'; // meshed
const PEER = '10.244.2.11'; // not meshed
const OTHER = '10.244.1.12'; // not meshed

const bed = await progRunBed(t, NS, [POD, PEER, OTHER]);
const { inNs, mapDir } = bed;
const fs = { path: bed.fsPath };
const objDir = join(root, 'ebpf/build');
await runOk('bpftool', ['prog', 'load', join(objDir, OBJECTS.pod.file), join(fs.path, 'pod'), 'type', 'classifier', 'pinmaps', mapDir]);
await runOk('bpftool', ['prog', 'load', join(objDir, OBJECTS.inbound.file), join(fs.path, 'inbound'), 'type', 'classifier',
  ...MAPS.flatMap((m) => ['map', 'name', m, 'pinned', join(mapDir, m)])]);
const lines = planMapLines(mapDir, { meshed: [], excluded: [] }, { meshed: [POD], excluded: [5432], local: ['172.31.0.11'], config: { outboundPort: 15001, inboundPort: 15006, mark: 0x539 } });
await runOk('bpftool', ['batch', 'file', '-'], { input: lines.join('\n') + '\n' });

const work = await mkdtemp(join(tmpdir(), 'ebpf-unit-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

async function stats(): Promise<Record<string, number>> {
  return statsFromDump(parseMapDump((await runOk('bpftool', ['-j', 'map', 'dump', 'pinned', join(mapDir, 'weft_stats')]))));
}

/** Runs one packet; returns the verdict and which counters moved. */
async function prog(which: 'pod' | 'inbound', p: TcpPacket): Promise<{ verdict: number; decided: string[] }> {
  const before = await stats();
  const file = join(work, 'pkt');
  await writeFile(file, tcpFrame(p));
  const out = await inNs('bpftool', ['prog', 'run', 'pinned', join(fs.path, which), 'data_in', file, 'repeat', '1']);
  const m = /Return value: (\d+)/.exec(out);
  if (m === null) throw new Error(`bpftool prog run printed no verdict: ${out}`);
  const after = await stats();
  const decided = Object.keys(after).filter((k) => after[k] !== (before[k] ?? 0)).sort();
  return { verdict: Number(m[1]), decided };
}

const OK = 0; // TC_ACT_OK
const SHOT = 2; // TC_ACT_SHOT
const syn = (src: string, dst: string, dport: number, sport = 40000): TcpPacket => ({ src, dst, sport, dport, flags: 'S' });

function startInNs(args: string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`helper exited (${code}) before it was ready`)));
  });
}

t.test('packets that are not IPv4 TCP pass untouched', async (t) => {
  t.same(await prog('pod', { ...syn(POD, PEER, 80), etherType: 0x0806 }), { verdict: OK, decided: ['pass_not_tcp'] }, 'ARP');
  t.same(await prog('pod', { ...syn(POD, PEER, 80), protocol: 17 }), { verdict: OK, decided: ['pass_not_tcp'] }, 'UDP');
  t.same(await prog('pod', { ...syn(POD, PEER, 80), fragmentOffset: 10 }), { verdict: OK, decided: ['pass_not_tcp'] }, 'a later fragment');
});

t.test('traffic of unmeshed pods passes untouched', async (t) => {
  t.same(await prog('pod', syn(OTHER, PEER, 80)), { verdict: OK, decided: ['pass_unrelated'] });
  t.same(await prog('inbound', syn(POD, PEER, 80)), { verdict: OK, decided: ['pass_unrelated'] }, 'the inbound program ignores a meshed source');
  t.same(await prog('inbound', syn(POD, POD, 80)), { verdict: OK, decided: ['pass_unrelated'] }, 'a pod talking to itself is not inbound');
});

t.test('without the agent listening, new captured connections are dropped (as TPROXY does)', async (t) => {
  t.same(await prog('pod', syn(POD, PEER, 8080)), { verdict: SHOT, decided: ['drop_no_listener'] });
  t.same(await prog('inbound', syn(PEER, POD, 8080)), { verdict: SHOT, decided: ['drop_no_listener'] });
});

t.test('decisions with the agent listening', async (t) => {
  const probe = fileURLToPath(new URL('../testbed/probe.ts', import.meta.url));
  const out = await startInNs([probe, '0.0.0.0', '15001', 'out', 'transparent']);
  const inb = await startInNs([probe, '0.0.0.0', '15006', 'in', 'transparent']);
  t.teardown(() => { out.kill(); inb.kill(); });
  t.same(await prog('pod', syn(POD, '10.96.0.10', 80)), { verdict: SHOT, decided: ['drop_assign_failed', 'outbound'] }, 'a meshed pod\'s SYN goes to the outbound listener');
  t.same(await prog('pod', syn(OTHER, POD, 9090)), { verdict: SHOT, decided: ['drop_assign_failed', 'inbound'] }, 'an unmeshed pod\'s SYN to a meshed pod goes to the inbound listener');
  t.same(await prog('inbound', syn(PEER, POD, 9090)), { verdict: SHOT, decided: ['drop_assign_failed', 'inbound'] }, 'so does one from another node');
  t.same(await prog('pod', syn(POD, PEER, 5432)), { verdict: OK, decided: ['pass_excluded_port'] }, 'an excluded port is reached directly');
  t.same(await prog('pod', syn(POD, '172.31.0.11', 8080)), { verdict: OK, decided: ['pass_local_dst'] }, 'a node address (weft_local) is not captured');
  t.same(await prog('pod', { ...syn(POD, PEER, 8080), flags: 'A' }), { verdict: OK, decided: ['pass_mid_flow'] }, 'mid-flow packets of a flow nobody captured pass');
  t.same(await prog('inbound', { ...syn(PEER, POD, 8080), flags: 'SA' }), { verdict: OK, decided: ['pass_mid_flow'] }, 'a SYN-ACK answering the pod (an excluded port) is not inbound');
});

t.test('packets of a flow with a socket on the node go to that socket first', async (t) => {
  // A connection POD:40123 → PEER:8080 inside the namespace: the accepted socket's tuple is what
  // a captured flow looks like on the node (local address = original destination).
  const script = `const net=require('net');const s=net.createServer(()=>{}).listen(8080,'${PEER}',()=>{const c=net.connect({host:'${PEER}',port:8080,localAddress:'${POD}',localPort:40123},()=>console.log('ready'));c.on('error',()=>{})});setInterval(()=>{},1000)`;
  const conn = await startInNs(['-e', script]);
  t.teardown(() => { conn.kill(); });
  t.same(await prog('pod', { src: POD, dst: PEER, sport: 40123, dport: 8080, flags: 'A' }), { verdict: SHOT, decided: ['drop_assign_failed', 'established'] }, 'a mid-flow packet finds its established socket');
  t.same(await prog('inbound', { src: PEER, dst: POD, sport: 8080, dport: 40123, flags: 'A' }), { verdict: SHOT, decided: ['drop_assign_failed', 'established'] }, 'so does a reply to a socket bound to the pod address');
  t.same(await prog('pod', { src: OTHER, dst: PEER, sport: 40123, dport: 8080, flags: 'A' }), { verdict: OK, decided: ['pass_unrelated'] }, 'only for flows of meshed pods');
});
