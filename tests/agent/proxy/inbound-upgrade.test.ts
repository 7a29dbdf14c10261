// The destination end of a cross-node upgrade (agent/proxy/inbound-upgrade.ts), in process with
// real sockets: an HTTP/2 (h2c) session stands in for the HBONE one, a raw TCP server for the pod,
// and a real Authorizer over an AgentState decides. What a rogue or confused source agent can send
// on a tunnel marked as an upgrade: an allowed upgrade reaches the pod byte for byte; a denied one,
// a plain request, bytes that are not HTTP and an absolute-form target are refused in the tunnel
// and the pod gets no connection at all.
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { memoryLogger } from '../../../common/log.ts';
import type { PolicyRecord } from '../../../control/api/model.ts';
import { AgentState } from '../../../agent/state/index.ts';
import { Authorizer } from '../../../agent/policy/authorizer.ts';
import { createInboundUpgrades } from '../../../agent/proxy/inbound-upgrade.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';
import { workload } from '../../common/fixtures.ts';

const pod = workload('server', '127.0.0.1', 'n2');
const PEER = 'spiffe://cluster.local/ns/demo/sa/client';
const noAdmin: PolicyRecord = {
  kind: 'policy', key: 'demo/no-admin', name: 'no-admin', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' },
  rules: [{ from: [], to: [{ paths: [{ type: 'prefix', value: '/admin' }] }] }],
};
const state = new AgentState();
const authz = new Authorizer({ view: state, localNode: 'n2', log: memoryLogger() });
state.onChange((c) => authz.onStateChange(c));
state.applySnapshot(1, [pod, noAdmin]);

// The pod: records every connection's bytes, answers 101 to anything.
const accepted: string[] = [];
const backend = net.createServer((s) => {
  const i = accepted.push('') - 1;
  s.on('data', (d: Buffer) => {
    const first = accepted[i] === '';
    accepted[i] += d.toString('latin1');
    if (first) s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  s.on('error', () => undefined);
});
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const podPort = (backend.address() as AddressInfo).port;

const rejected: string[] = [];
/** onDone calls per tunnel (HTTP/2 stream id). */
const done = new Map<number, number>();
const upgrades = createInboundUpgrades({ policy: authz, sockets: createSocketFactory(), connectTimeoutMs: 2000, log: memoryLogger(), rejected: (r) => rejected.push(r), headersTimeoutMs: 1000 });
const h2 = http2.createServer();
h2.on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  upgrades.take(stream, { peerIdentity: PEER, peerAddress: '10.0.0.1', destination: pod, target: { host: '127.0.0.1', port: podPort }, onDone: () => done.set(stream.id ?? 0, (done.get(stream.id ?? 0) ?? 0) + 1) });
});
await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
const session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
t.teardown(() => {
  session.close();
  h2.close();
  backend.close();
  upgrades.close();
});

/** Opens a tunnel, sends `bytes`, returns what came back within waitMs (or by the end of the stream). */
function tunnel(bytes: string, waitMs = 1500): Promise<string> {
  return tunnelWithId(bytes, waitMs).then((r) => r.answer);
}
function tunnelWithId(bytes: string, waitMs = 1500): Promise<{ answer: string; id: number }> {
  return new Promise((resolve) => {
    const s = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${podPort}` });
    let got = '';
    const finish = (): void => {
      clearTimeout(timer);
      s.close();
      resolve({ answer: got, id: s.id ?? -1 });
    };
    const timer = setTimeout(finish, waitMs);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('end', finish);
    s.on('error', finish);
    s.write(bytes);
  });
}

const WS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

t.test('an allowed upgrade reaches the pod with its head, byte for byte, and the pod answers', async (t) => {
  const head = `GET /chat HTTP/1.1\r\nHost: server\r\n${WS}\r\n`;
  const answer = await tunnel(`${head}frame-1`);
  t.match(answer, /^HTTP\/1\.1 101 /, 'the pod\'s 101 came back through the tunnel');
  t.equal(accepted.length, 1);
  t.equal(accepted[0], `${head}frame-1`, 'head replayed as sent, then the bytes after it');
});

const refused: Array<[string, string, RegExp, string | undefined]> = [
  ['an upgrade the policy denies', `GET /admin/x HTTP/1.1\r\nHost: server\r\n${WS}\r\n`, /^HTTP\/1\.1 403 .*\r\nweft-error: WEFT_ERR_POLICY_DENIED\r\nweft-denied-by: demo\/no-admin\r\n/s, undefined],
  ['a plain request on an upgrade tunnel', 'GET /admin HTTP/1.1\r\nHost: server\r\n\r\n', /^HTTP\/1\.1 400 .*weft-error: WEFT_ERR_HTTP_MALFORMED/s, 'hbone_upgrade_not_upgrade'],
  ['bytes that are not HTTP', '\x16\x03\x01\x00\x05hello\r\n\r\n', /^HTTP\/1\.1 400 .*WEFT_ERR_HTTP_MALFORMED/s, 'hbone_upgrade_malformed'],
  ['an absolute-form upgrade target', `GET http://server/admin HTTP/1.1\r\nHost: server\r\n${WS}\r\n`, /^HTTP\/1\.1 400 .*WEFT_ERR_HTTP_MALFORMED/s, 'hbone_upgrade_target'],
];
for (const [name, bytes, want, reason] of refused) {
  t.test(`${name} is refused in the tunnel; the pod gets no connection`, async (t) => {
    const before = accepted.length;
    const { answer, id } = await tunnelWithId(bytes);
    t.match(answer, want);
    t.equal(accepted.length, before, 'no connection to the pod');
    if (reason !== undefined) t.ok(rejected.includes(reason), `counted as ${reason}`);
    // Give a late second report (a client error as the tunnel closes) the chance to show.
    await new Promise((r) => setTimeout(r, 200));
    t.equal(done.get(id), 1, 'reported done once');
  });
}

t.test('a head that never completes is cut at the header timeout', async (t) => {
  const before = accepted.length;
  const answer = await tunnel('GET /chat HTTP/1.1\r\nHost: ser', 4000);
  t.match(answer, /^HTTP\/1\.1 408 /, '408 after the header timeout');
  t.equal(accepted.length, before);
});
