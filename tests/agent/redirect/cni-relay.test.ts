// The CNI relay: the real weft-cni executable run as a runtime runs it (CNI environment, network
// configuration on stdin) against a CniRelay on a unix socket. The relay's target here is a
// recording stub (the registry behind it is tested in pod-capture-manager.test.ts and end to end
// in tests/e2e/inpod-mesh.test.ts); what is under test is the protocol and the waiting.
import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniRelay, type CniRelayTarget } from '../../../agent/redirect/cni-relay.ts';
import { parseCniRequest } from '../../../agent/redirect/cni-request.ts';
import { createLogger } from '../../../common/log.ts';
import { ErrorCodes } from '../../../common/errors.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const PLUGIN = join(root, 'agent/native/build/weft-cni');
const dir = mkdtempSync(join(tmpdir(), 'weft-t-cni-relay-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const socket = join(dir, 'cni.sock');

function runPlugin(env: Record<string, string>, stdin: string): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(PLUGIN, [], { env: { WEFT_CNI_SOCKET: socket, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('close', (code) => resolve({ code, out, ms: Date.now() - started }));
    p.stdin.on('error', () => {}); // VERSION exits without reading
    p.stdin.end(stdin);
  });
}

const prev = { cniVersion: '0.4.0', interfaces: [{ name: 'eth0' }], ips: [{ version: '4', address: '10.244.1.5/24', gateway: '10.244.1.1' }] };
const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'k8s', type: 'weft-cni', prevResult: prev });
const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-1;K8S_POD_UID=u' };

t.test('protocol table: what the relay reads from the plugin', async (t) => {
  const req = parseCniRequest(Buffer.from(`CNI_COMMAND=ADD\nCNI_CONTAINERID=abc\nCNI_NETNS=/var/run/netns/cni-1\nCNI_IFNAME=eth0\nCNI_ARGS=K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-1\n\n${conf}`));
  t.match(req, { command: 'ADD', containerId: 'abc', netns: '/var/run/netns/cni-1', podKey: 'demo/web-1', ips: ['10.244.1.5'], cniVersion: '0.4.0' });
  const bad: Array<[string, RegExp]> = [
    ['CNI_COMMAND=ADD\n{}', /blank line/],
    ['CNI_COMMAND=ADD\nCNI_NETNS=/x\n\nnot json', /not JSON/],
    ['CNI_COMMAND=ADD\nCNI_NETNS=/x\n\n{"cniVersion":"1.0.0"}', /prevResult/],
    ['CNI_COMMAND=ADD\n\n{"prevResult":{}}', /CNI_NETNS/],
    ['CNI_COMMAND=VERSION\n\n{}', /not ADD, DEL or CHECK/],
    ['garbage\n\n{}', /KEY=VALUE/],
  ];
  for (const [raw, msg] of bad) t.throws(() => parseCniRequest(Buffer.from(raw)), { code: ErrorCodes.CNI_RELAY_INVALID, message: msg }, JSON.stringify(raw));
});

t.test('the plugin against the relay', async (t) => {
  const seen: string[] = [];
  let verdict: ReturnType<CniRelayTarget['verdict']> = 'unknown';
  let wake: () => void = () => {};
  const target: CniRelayTarget = {
    async added(p) { seen.push(`added ${p.key} ${p.path} ${p.ips.join(',')} inode=${p.inode > 0}`); },
    async deleted(m) { seen.push(`deleted ${m.path}`); },
    verdict: () => verdict,
    changed: (ms) => new Promise((r) => { wake = () => r(); setTimeout(r, ms); }),
  };
  const relay = new CniRelay({ socketPath: socket, target, waitMs: () => 20_000, log: createLogger('test') });
  await relay.listen();
  t.teardown(() => relay.close());

  t.same(JSON.parse((await runPlugin({ CNI_COMMAND: 'VERSION' }, '')).out).supportedVersions.includes('1.0.0'), true, 'VERSION is answered by the plugin itself');

  verdict = 'captured';
  const ok = await runPlugin(env, conf);
  t.equal(ok.code, 0);
  t.same(JSON.parse(ok.out), prev, 'ADD prints the previous result');
  t.same(seen, ['added demo/web-1 /proc/self/ns/net 10.244.1.5 inode=true']);

  verdict = 'unknown';
  const pending = runPlugin(env, conf);
  await new Promise((r) => setTimeout(r, 1000));
  verdict = 'captured';
  wake();
  const waited = await pending;
  t.equal(waited.code, 0, 'an ADD for a pod not captured yet is answered once it is');
  t.ok(waited.ms >= 900, `it waited (${waited.ms} ms)`);

  verdict = { failed: 'EPERM: no nat table' };
  const failed = await runPlugin(env, conf);
  t.equal(failed.code, 1);
  t.match(JSON.parse(failed.out), { cniVersion: '0.4.0', code: 999, msg: /could not be captured/, details: /no nat table/ });

  const del = await runPlugin({ ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '/run/netns/gone' }, JSON.stringify({ cniVersion: '0.4.0', name: 'k8s', type: 'weft-cni' }));
  t.equal(del.code, 0);
  t.equal(del.out, '', 'DEL prints nothing');
  t.equal(seen[seen.length - 1], 'deleted /run/netns/gone');

  const badNs = await runPlugin({ ...env, CNI_NETNS: '/run/netns/does-not-exist' }, conf);
  t.equal(badNs.code, 1);
  t.match(JSON.parse(badNs.out), { msg: /cannot open the pod's network namespace/ });
});

t.test('no agent: ADD fails (the pod never starts uncaptured), DEL succeeds', async (t) => {
  const gone = { WEFT_CNI_SOCKET: join(dir, 'nobody.sock') };
  const add = await runPlugin({ ...env, ...gone }, conf);
  t.equal(add.code, 1);
  t.match(JSON.parse(add.out), { cniVersion: '0.4.0', code: 999, msg: /not reachable/ });
  const del = await runPlugin({ ...env, ...gone, CNI_COMMAND: 'DEL' }, conf);
  t.equal(del.code, 0);
});
