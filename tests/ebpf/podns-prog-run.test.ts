// Unit tier for the pod-scope programs (ebpf/tc-podns-*.c): test packets through BPF_PROG_RUN
// (`bpftool prog run`), verdict, output frame and weft_pod_stats decision counters out. Runs in a
// network namespace of its own standing in for a pod's, so the socket lookups see only the
// listeners and connections this test makes. BPF_PROG_RUN is not tc ingress: bpf_sk_assign
// refuses there, so a capture by the lo / ingress programs shows as its decision plus
// drop_assign_failed; the real assignment is exercised by tests/agent/redirect/ebpf-pod-netns.test.ts.
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { POD_MAPS, POD_OBJECTS, planPodMapLines, type PodHook } from '../../agent/redirect/ebpf-pod-plan.ts';
import { podStats } from '../../agent/redirect/ebpf-pod-capture.ts';
import { runOk } from '../testbed/run.ts';
import { progRunBed } from './bpffs.ts';
import { tcpFrame, type TcpPacket } from './packet.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
execFileSync('bash', ['scripts/build-ebpf.sh'], { cwd: root, stdio: 'inherit' });

const NS = 'ebpf-unit-podns';
const POD = '10.244.1.11'; // the pod whose namespace this is
const PEER = '10.244.2.11';
const VIP = '10.96.0.10';
const AGENT_MARK = 0x539;
const CAPTURE_MARK = 0x53a;

const bed = await progRunBed(t, NS, [POD, PEER, VIP]);
const { inNs, mapDir } = bed;
const fs = { path: bed.fsPath };
const objDir = join(root, 'ebpf/build');
await runOk('bpftool', ['prog', 'load', join(objDir, POD_OBJECTS.egress.file), join(fs.path, 'egress'), 'type', 'classifier', 'pinmaps', mapDir]);
for (const h of ['ingress', 'lo'] as const) {
  await runOk('bpftool', ['prog', 'load', join(objDir, POD_OBJECTS[h].file), join(fs.path, h), 'type', 'classifier', ...POD_MAPS.flatMap((m) => ['map', 'name', m, 'pinned', join(mapDir, m)])]);
}

const work = await mkdtemp(join(tmpdir(), 'ebpf-podns-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

async function stats(): Promise<Record<string, number>> {
  return podStats(await runOk('bpftool', ['-j', 'map', 'dump', 'pinned', join(mapDir, 'weft_pod_stats')]));
}

/** The head of struct __sk_buff up to and including mark (len, pkt_type, mark): what ctx_in may set. */
function ctxWithMark(mark: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(mark, 8);
  return b;
}

/** Runs one packet; returns the verdict, which counters moved, and the frame as the program left it. */
async function prog(which: PodHook, p: TcpPacket, mark = 0): Promise<{ verdict: number; decided: string[]; out: Buffer }> {
  const before = await stats();
  const file = join(work, 'pkt');
  const outFile = join(work, 'out');
  await writeFile(file, tcpFrame(p));
  const args = ['prog', 'run', 'pinned', join(fs.path, which), 'data_in', file, 'data_out', outFile];
  if (mark !== 0) {
    await writeFile(join(work, 'ctx'), ctxWithMark(mark));
    args.push('ctx_in', join(work, 'ctx'));
  }
  const text = await inNs('bpftool', [...args, 'repeat', '1']);
  const m = /Return value: (\d+)/.exec(text);
  if (m === null) throw new Error(`bpftool prog run printed no verdict: ${text}`);
  const after = await stats();
  const decided = Object.keys(after).filter((k) => after[k] !== (before[k] ?? 0)).sort();
  return { verdict: Number(m[1]), decided, out: await readFile(outFile) };
}

const OK = 0; // TC_ACT_OK
const SHOT = 2; // TC_ACT_SHOT
const REDIRECT = 7; // TC_ACT_REDIRECT, what bpf_redirect returns
const syn = (src: string, dst: string, dport: number, sport = 40000): TcpPacket => ({ src, dst, sport, dport, flags: 'S' });

function startInNs(args: string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`helper exited (${code}) before it was ready`)));
  });
}

t.test('without config every program passes', async (t) => {
  for (const h of ['egress', 'ingress', 'lo'] as const) t.same((await prog(h, syn(POD, PEER, 80))).decided, ['pass_no_config'], h);
});

t.test('config written', async () => {
  const lines = planPodMapLines(mapDir, { excluded: [], direct: [] }, {
    config: { outboundPort: 15001, inboundPort: 15006, hbonePort: 15008, agentMark: AGENT_MARK, captureMark: CAPTURE_MARK },
    excluded: [5432],
    direct: [15008],
  });
  await runOk('bpftool', ['batch', 'file', '-'], { input: lines.join('\n') + '\n' });
});

t.test('egress: the pod\'s new connections go to lo, marked, their destination MAC zeroed', async (t) => {
  const r = await prog('egress', syn(POD, VIP, 80));
  t.same([r.verdict, r.decided], [REDIRECT, ['redirect_syn']], 'a SYN is redirected');
  t.same([...r.out.subarray(0, 6)], [0, 0, 0, 0, 0, 0], 'destination MAC = lo\'s');
  t.same([...r.out.subarray(6, 12)], [2, 0, 0, 0, 0, 2], 'source MAC kept');
  t.same(r.out.subarray(12), tcpFrame(syn(POD, VIP, 80)).subarray(12), 'IP and TCP untouched: the original destination travels with the packet');
});

t.test('egress: what passes untouched', async (t) => {
  t.same((await prog('egress', { ...syn(POD, PEER, 80), etherType: 0x0806 })).decided, ['pass_not_tcp'], 'ARP');
  t.same((await prog('egress', { ...syn(POD, PEER, 80), protocol: 17 })).decided, ['pass_not_tcp'], 'UDP');
  t.same((await prog('egress', { ...syn(POD, PEER, 80), fragmentOffset: 10 })).decided, ['pass_not_tcp'], 'a later fragment');
  t.same(await prog('egress', syn(POD, PEER, 80), AGENT_MARK).then((r) => [r.verdict, r.decided]), [OK, ['pass_agent']], 'a socket with the agent\'s mark');
  t.same(await prog('egress', syn(POD, PEER, 80), AGENT_MARK | 0x10000).then((r) => [r.verdict, r.decided]), [OK, ['pass_agent']], 'the agent\'s bits among others');
  t.same(await prog('egress', syn(POD, PEER, 5432)).then((r) => [r.verdict, r.decided]), [OK, ['pass_excluded_port']], 'an excluded port');
  t.same(await prog('egress', { ...syn(POD, PEER, 80), flags: 'A' }).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'a packet of a flow nobody captured');
  t.same(await prog('egress', { ...syn(POD, PEER, 44000, 8080), flags: 'SA' }).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'the SYN-ACK of a server in the pod');
});

t.test('lo: only marked packets are touched', async (t) => {
  t.same(await prog('lo', syn(POD, VIP, 80)).then((r) => [r.verdict, r.decided]), [OK, ['pass_unmarked']], 'the pod\'s own loopback traffic');
  t.same(await prog('lo', syn(POD, VIP, 80), AGENT_MARK).then((r) => [r.verdict, r.decided]), [OK, ['pass_unmarked']], 'the agent\'s sockets on lo');
  t.same(await prog('lo', syn(POD, VIP, 80), CAPTURE_MARK).then((r) => [r.verdict, r.decided]), [SHOT, ['drop_no_listener']], 'a captured SYN with no outbound listener is dropped');
  t.same(await prog('lo', { ...syn(POD, VIP, 80), flags: 'A' }, CAPTURE_MARK).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'a captured flow\'s packet whose socket is gone: the stack resets it');
});

t.test('ingress: new connections to the pod', async (t) => {
  t.same(await prog('ingress', syn(PEER, POD, 9090)).then((r) => [r.verdict, r.decided]), [SHOT, ['drop_no_listener']], 'no inbound listener: dropped');
  t.same(await prog('ingress', syn(PEER, POD, 15008)).then((r) => [r.verdict, r.decided]), [OK, ['pass_direct_port']], 'HBONE goes to whoever listens on it');
  t.same(await prog('ingress', { ...syn(PEER, POD, 9090), flags: 'A' }).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'later packets find their socket by themselves');
  t.same(await prog('ingress', { ...syn(PEER, POD, 40000, 80), flags: 'SA' }).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'the SYN-ACK answering the pod (excluded port, or the agent\'s own)');
});

t.test('decisions with the agent listening and a captured flow open', async (t) => {
  const probe = fileURLToPath(new URL('../testbed/probe.ts', import.meta.url));
  const out = await startInNs([probe, '0.0.0.0', '15001', 'out', 'transparent']);
  const inb = await startInNs([probe, '0.0.0.0', '15006', 'in', 'transparent']);
  // A connection POD:40123 → VIP:80 inside the namespace stands for a captured flow: the agent's
  // accepted socket has local address VIP:80 and peer POD:40123.
  const script = `const net=require('net');net.createServer(()=>{}).listen(80,'${VIP}',()=>{const c=net.connect({host:'${VIP}',port:80,localAddress:'${POD}',localPort:40123},()=>console.log('ready'));c.on('error',()=>{})});setInterval(()=>{},1000)`;
  const conn = await startInNs(['-e', script]);
  t.teardown(() => { out.kill(); inb.kill(); conn.kill(); });
  t.same(await prog('lo', syn(POD, PEER, 8080), CAPTURE_MARK).then((r) => [r.verdict, r.decided]), [SHOT, ['drop_assign_failed', 'outbound']], 'a captured SYN goes to the outbound listener');
  t.same(await prog('ingress', syn(PEER, POD, 9090)).then((r) => [r.verdict, r.decided]), [SHOT, ['drop_assign_failed', 'inbound']], 'a SYN to the pod goes to the inbound listener');
  const flow = { src: POD, dst: VIP, sport: 40123, dport: 80, flags: 'A' };
  t.same(await prog('egress', flow).then((r) => [r.verdict, r.decided]), [REDIRECT, ['redirect_flow']], 'egress: a later packet of a captured flow follows its SYN to lo');
  t.same(await prog('lo', flow, CAPTURE_MARK).then((r) => [r.verdict, r.decided]), [SHOT, ['drop_assign_failed', 'established']], 'lo: and finds its socket');
  t.same(await prog('egress', { ...flow, sport: 40124 }).then((r) => [r.verdict, r.decided]), [OK, ['pass_mid_flow']], 'another flow to the same destination is not that flow');
});
