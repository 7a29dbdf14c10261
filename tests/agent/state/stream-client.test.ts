import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { memoryLogger } from '../../../common/log.ts';
import { AgentState } from '../../../agent/state/agent-state.ts';
import { StreamClient } from '../../../agent/state/stream-client.ts';
import type { AgentMessage } from '../../../control/api/stream.ts';
import { TOKENS, SERVERNAME, makePki, newStore, pod, startControl, until } from '../../control/stream/stream-harness.ts';

t.test('keeps its state while control is gone, resyncs from a new control on the same address', async (t) => {
  const pki = await makePki();
  const store1 = newStore();
  store1.replaceAll([pod('a', '10.1.0.1'), pod('b', '10.1.0.2')]);
  const control1 = await startControl(t, pki, store1);
  const state = new AgentState();
  const client = new StreamClient({
    url: control1.url, servername: SERVERNAME, caPem: pki.caPem, node: 'node-a', agentVersion: 'test',
    credential: async () => TOKENS['node-a'], state, log: memoryLogger('agent'), backoffInitialMs: 20, backoffMaxMs: 200,
  });
  t.teardown(() => client.close());
  client.start();
  await until('first sync', () => client.status().synced);
  t.equal(state.size, 2);

  await control1.stop();
  await until('disconnected', () => !client.status().connected);
  await new Promise((r) => setTimeout(r, 300)); // a few failed reconnects
  t.equal(state.size, 2, 'the last state keeps serving');
  t.equal(state.workloadByIp('10.1.0.1')?.key, 'shop/a');
  t.ok(client.status().lastError !== null, 'the failure is visible in status');
  t.ok(client.status().reconnects >= 2, 'it keeps retrying');

  // A fresh control (its own version counter, its own model) on the very same port.
  const store2 = newStore();
  store2.replaceAll([pod('b', '10.1.0.2'), pod('c', '10.1.0.3')]);
  const control2 = await startControl(t, pki, store2, { port: control1.port });
  await until('resync', () => client.status().synced && state.workloadByKey('shop/c') !== undefined);
  t.equal(state.workloadByKey('shop/a'), undefined, 'stale record dropped by the snapshot');
  t.equal(state.size, 2);
  t.equal(state.version, 1, 'versions follow the new control');
  await until('acked', () => control2.stream.agents()[0]?.ackedVersion === 1);
});

t.test('refuses a message it cannot apply: nack, keep state, reconnect', async (t) => {
  const pki = await makePki();
  const server = createServer({ key: pki.key, cert: pki.cert });
  const wss = new WebSocketServer({ server });
  const received: AgentMessage[] = [];
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    const n = connections;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as AgentMessage;
      received.push(m);
      if (m.type !== 'hello') return;
      ws.send(JSON.stringify({ type: 'snapshot', version: 5, resources: [pod('a', '10.1.0.1')] }));
      ws.send(JSON.stringify({ type: 'snapshot-sent', version: 5, count: 1 }));
      // First connection: a delta with a broken record; later ones: a snapshot that lies about its size.
      if (n === 1) ws.send(JSON.stringify({ type: 'delta', version: 6, upserts: [{ kind: 'workload', key: 'shop/x' }], removes: [] }));
      else ws.send(JSON.stringify({ type: 'snapshot', version: 7, resources: [] }), () => ws.send(JSON.stringify({ type: 'snapshot-sent', version: 7, count: 3 })));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const state = new AgentState();
  const client = new StreamClient({
    url: `wss://127.0.0.1:${(server.address() as AddressInfo).port}`, servername: SERVERNAME, caPem: pki.caPem,
    node: 'node-a', agentVersion: 'test', credential: TOKENS['node-a'], state, log: memoryLogger('agent'), backoffInitialMs: 20, backoffMaxMs: 100,
  });
  t.teardown(() => client.close());
  client.start();
  await until('two nacks', () => received.filter((m) => m.type === 'nack').length >= 2);
  const nacks = received.filter((m) => m.type === 'nack');
  t.match(nacks[0], { version: 6, reason: /shop\/x/ });
  t.match(nacks[1], { version: 7, reason: /announced 3 records, carried 0/ });
  t.match(received.filter((m) => m.type === 'ack')[0], { version: 5 });
  t.ok(connections >= 2, 'reconnected to resync');
  t.equal(state.version, 5, 'the refused messages changed nothing');
  t.equal(state.workloadByKey('shop/a')?.ip, '10.1.0.1');
});

t.test('refuses a control certificate that does not match the servername', async (t) => {
  const pki = await makePki();
  const control = await startControl(t, pki, newStore());
  const client = new StreamClient({
    url: control.url, servername: 'someone-else.test', caPem: pki.caPem, node: 'node-a', agentVersion: 'test',
    credential: TOKENS['node-a'], state: new AgentState(), log: memoryLogger('agent'), backoffInitialMs: 20, backoffMaxMs: 100,
  });
  t.teardown(() => client.close());
  client.start();
  await until('an error', () => client.status().lastError !== null);
  t.equal(client.status().lastError?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  t.equal(client.status().connected, false);
  t.same(control.stream.agents(), []);
});
