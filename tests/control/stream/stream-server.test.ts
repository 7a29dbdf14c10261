import t from 'tap';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.ts';
import { AgentState } from '../../../agent/state/agent-state.ts';
import { StreamClient } from '../../../agent/state/stream-client.ts';
import { TOKENS, makePki, newStore, pod, rawClient, startControl, tempDir, until, SERVERNAME, type Cleanup, type Control, type Pki, type RawClient } from './stream-harness.ts';
import type { PendingWorkloadRecord } from '../../../control/api/model.ts';
import type { ModelStore } from '../../../control/model/model-store.ts';

const hello = (node: string, credential: string) => ({ type: 'hello', protocol: 1, node, agentVersion: 'test', credential });

function agent(t: Cleanup, pki: Pki, control: Control, node: 'node-a' | 'node-b' = 'node-a') {
  const state = new AgentState();
  const client = new StreamClient({
    url: control.url, ...(control.socketPath ? { socketPath: control.socketPath } : {}), servername: SERVERNAME,
    caPem: pki.caPem, node, agentVersion: 'test', credential: TOKENS[node], state, log: memoryLogger('agent'),
    backoffInitialMs: 20, backoffMaxMs: 200,
  });
  t.teardown(() => client.close());
  client.start();
  return { state, client };
}

async function flow(t: Cleanup & { equal: Function; same: Function; ok: Function }, pki: Pki, control: Control, store: ModelStore): Promise<void> {
  const { state, client } = agent(t, pki, control);
  await until('synced', () => client.status().synced);
  await client.ready();
  t.equal(state.version, 1);
  t.equal(state.size, 5, 'snapshot arrived in chunks and was assembled');
  await until('snapshot ack', () => control.stream.agents()[0]?.ackedVersion === 1);

  store.apply([pod('f', '10.1.0.6')], ['workload:shop/a']);
  await until('delta applied', () => state.version === 2);
  t.equal(state.workloadByKey('shop/a'), undefined);
  t.equal(state.workloadByIp('10.1.0.6')?.key, 'shop/f');
  await until('delta ack', () => control.stream.agents()[0]?.ackedVersion === 2);
  const [info] = control.stream.agents();
  t.same({ node: info.node, sent: info.sentVersion, acked: info.ackedVersion, nacks: info.nacks }, { node: 'node-a', sent: 2, acked: 2, nacks: 0 });
  t.ok(client.status().connected && client.status().synced);
}

const seed = (store: ModelStore) => store.replaceAll(['a', 'b', 'c', 'd', 'e'].map((n, i) => pod(n, `10.1.0.${i + 1}`)));

t.test('TLS on 127.0.0.1: hello → chunked snapshot → delta, acks tracked', async (t) => {
  const pki = await makePki();
  const store = newStore();
  seed(store);
  const control = await startControl(t, pki, store, {}, { snapshotChunk: 2 });
  await flow(t, pki, control, store);
});

t.test('TLS over a unix socket: same protocol', async (t) => {
  const pki = await makePki();
  const store = newStore();
  seed(store);
  const dir = await tempDir(t);
  const control = await startControl(t, pki, store, { socketPath: join(dir, 'control.sock') }, { snapshotChunk: 2 });
  await flow(t, pki, control, store);
});

t.test('unknown credential and wrong node are refused', async (t) => {
  const pki = await makePki();
  const control = await startControl(t, pki, newStore());
  const bad = await rawClient(t, pki, control);
  bad.send(hello('node-a', 'not-a-token-not-a-token'));
  await until('close', () => bad.closed !== null);
  t.same(bad.frames.map((f) => f.type === 'error' && f.code), ['WEFT_ERR_STREAM_UNAUTHENTICATED']);
  t.notMatch(JSON.stringify(bad.frames), 'not-a-token', 'the token is not echoed');

  const wrong = await rawClient(t, pki, control);
  wrong.send(hello('node-a', TOKENS['node-b']));
  await until('close', () => wrong.closed !== null);
  t.equal(wrong.frames.length, 1, 'no snapshot for a node that is not who it says');
  t.match(wrong.frames[0], { type: 'error', code: 'WEFT_ERR_STREAM_UNAUTHENTICATED' });
  t.equal(wrong.closed?.code, 1008);
  t.same(control.stream.agents(), []);
});

t.test('malformed frames get a protocol error and a close; the server stays up', async (t) => {
  const pki = await makePki();
  const store = newStore();
  seed(store);
  const control = await startControl(t, pki, store, {}, { helloTimeoutMs: 300 });
  const cases: [string, unknown][] = [
    ['not JSON', '{nope'],
    ['array', '[1,2]'],
    ['unknown type', { type: 'gimme' }],
    ['ack before hello', { type: 'ack', version: 1 }],
    ['hello without node', { type: 'hello', protocol: 1, agentVersion: 'x', credential: 'y' }],
    ['wrong protocol', { ...hello('node-a', TOKENS['node-a']), protocol: 99 }],
  ];
  for (const [name, frame] of cases) {
    const c = await rawClient(t, pki, control);
    c.send(frame);
    await until(`close after ${name}`, () => c.closed !== null);
    t.match(c.frames, [{ type: 'error', code: 'WEFT_ERR_STREAM_PROTOCOL' }], name);
  }
  const silent = await rawClient(t, pki, control);
  await until('hello timeout', () => silent.closed !== null);
  t.match(silent.frames, [{ type: 'error', code: 'WEFT_ERR_STREAM_PROTOCOL', message: /no hello/ }]);

  // After all that, a well-behaved agent is served; a second hello is then a protocol error.
  const good = await rawClient(t, pki, control);
  good.send(hello('node-b', TOKENS['node-b']));
  await until('snapshot-sent', () => good.frames.some((f) => f.type === 'snapshot-sent'));
  t.match(good.frames.at(-1), { type: 'snapshot-sent', version: 1, count: 5 });
  good.send({ type: 'nack', version: 1, reason: 'cannot route' });
  await until('nack recorded', () => control.stream.agents()[0]?.nacks === 1);
  t.match(control.stream.agents()[0], { node: 'node-b', ackedVersion: null, lastNack: { version: 1, reason: 'cannot route' } });
  good.send(hello('node-b', TOKENS['node-b']));
  await until('close', () => good.closed !== null);
  t.match(good.frames.at(-1), { type: 'error', code: 'WEFT_ERR_STREAM_PROTOCOL', message: /twice/ });
});

t.test('a newer stream from the same node replaces the older one', async (t) => {
  const pki = await makePki();
  const control = await startControl(t, pki, newStore());
  const first = await rawClient(t, pki, control);
  first.send(hello('node-a', TOKENS['node-a']));
  await until('first synced', () => first.frames.some((f) => f.type === 'snapshot-sent'));
  const second = await rawClient(t, pki, control);
  second.send(hello('node-a', TOKENS['node-a']));
  await until('first closed', () => first.closed !== null);
  t.equal(first.closed?.code, 4000);
  t.equal(control.stream.agents().length, 1);
});

t.test('pending workloads reach only agents that announce the feature; older agents get the rest', async (t) => {
  const pki = await makePki();
  const store = newStore();
  const pending = (name: string): PendingWorkloadRecord => ({
    kind: 'pending-workload', key: `shop/${name}`, uid: `u-${name}`, name, namespace: 'shop', node: 'node-a',
    serviceAccount: 'api', identity: 'spiffe://cluster.local/ns/shop/sa/api', labels: { app: 'api' }, meshed: true,
  });
  store.replaceAll([pod('a', '10.1.0.1'), pending('p')]);
  const control = await startControl(t, pki, store);
  const older = await rawClient(t, pki, control);
  older.send(hello('node-a', TOKENS['node-a']));
  const newer = await rawClient(t, pki, control);
  newer.send({ ...hello('node-b', TOKENS['node-b']), features: ['pending-workload', 'something-control-does-not-know'] });
  await until('both snapshots', () => [older, newer].every((c) => c.frames.some((f) => f.type === 'snapshot-sent')));
  const ids = (c: RawClient): string[] => c.frames.flatMap((f) => (f.type === 'snapshot' ? f.resources.map((r) => `${r.kind}:${r.key}`) : [])).sort();
  t.same(ids(older), ['workload:shop/a'], 'no feature announced: the pending pod is left out');
  t.same(ids(newer), ['pending-workload:shop/p', 'workload:shop/a'], 'announced: it is sent');
  t.match(older.frames.find((f) => f.type === 'snapshot-sent'), { count: 1, features: [] });
  t.match(newer.frames.find((f) => f.type === 'snapshot-sent'), { count: 2, features: ['pending-workload'] }, 'control names the features it honours, no others');

  // The pod gets its address: the pending record goes, the workload comes. The older agent sees
  // the same version with the workload only; a change of pending records alone is an empty delta.
  store.apply([pod('p', '10.1.0.9')], ['pending-workload:shop/p']);
  store.apply([pending('q')], []);
  await until('two deltas each', () => [older, newer].every((c) => c.frames.filter((f) => f.type === 'delta').length === 2));
  const deltas = (c: RawClient) => c.frames.filter((f) => f.type === 'delta').map((f) => (f.type === 'delta' ? { version: f.version, upserts: f.upserts.map((r) => `${r.kind}:${r.key}`), removes: f.removes } : null));
  t.same(deltas(older), [{ version: 2, upserts: ['workload:shop/p'], removes: [] }, { version: 3, upserts: [], removes: [] }]);
  t.same(deltas(newer), [{ version: 2, upserts: ['workload:shop/p'], removes: ['pending-workload:shop/p'] }, { version: 3, upserts: ['pending-workload:shop/q'], removes: [] }]);

  // A real agent announces it, checks the record, and knows control sends them.
  const { state, client } = agent(t, pki, control, 'node-a');
  await until('agent synced', () => client.status().synced);
  t.equal(state.pendingByKey('shop/q')?.identity, 'spiffe://cluster.local/ns/shop/sa/api');
  t.same(state.localPending('node-a').map((p) => p.key), ['shop/q']);
  t.ok(client.controlSends('pending-workload'));
});

t.test('hello.features must be a short list of names', async (t) => {
  const pki = await makePki();
  const control = await startControl(t, pki, newStore());
  for (const features of ['pending-workload', [1], [''], Array.from({ length: 40 }, (_, i) => `f${i}`)]) {
    const c = await rawClient(t, pki, control);
    c.send({ ...hello('node-a', TOKENS['node-a']), features });
    await until('closed', () => c.closed !== null);
    t.match(c.frames.at(-1), { type: 'error', code: 'WEFT_ERR_STREAM_PROTOCOL', message: /hello\.features/ }, JSON.stringify(features).slice(0, 40));
  }
});
