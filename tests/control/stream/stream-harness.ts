// Shared setup for config stream tests: a test CA, control's TLS server (127.0.0.1 or a unix
// socket in a temp dir), a model store, bootstrap tokens, and raw or real clients.
import { createServer, type Server } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { WebSocket, type ClientOptions } from 'ws';
import { makeTestCa, makeTestLeaf } from '../../common/test-pki.ts';
import { memoryLogger } from '../../../common/log.ts';
import { BootstrapTokenAuthenticator } from '../../../control/auth/bootstrap-tokens.ts';
import { ModelStore } from '../../../control/model/model-store.ts';
import { attachStreamServer, type StreamServer, type StreamServerOptions } from '../../../control/stream/stream-server.ts';
import type { WorkloadRecord } from '../../../control/api/model.ts';
import type { ControlMessage } from '../../../control/api/stream.ts';

export const SERVERNAME = 'control.weft.test';
export const TOKENS = { 'node-a': 'token-node-a-0123456789abcdef', 'node-b': 'token-node-b-0123456789abcdef' };

export interface Cleanup {
  teardown(fn: () => unknown): void;
}

export async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function pod(name: string, ip: string, node = 'node-a'): WorkloadRecord {
  return {
    kind: 'workload', key: `shop/${name}`, uid: `u-${name}`, name, namespace: 'shop', node, ip, serviceAccount: 'api',
    identity: 'spiffe://cluster.local/ns/shop/sa/api', labels: { app: 'api' }, meshed: true, ready: true,
  };
}

export interface Pki {
  caPem: string;
  key: string;
  cert: string;
}

export async function makePki(): Promise<Pki> {
  const ca = await makeTestCa();
  const leaf = await makeTestLeaf(ca, { dns: [SERVERNAME] });
  return { caPem: ca.certPem, key: leaf.keyPem, cert: leaf.chainPem };
}

export interface Control {
  server: Server;
  stream: StreamServer;
  /** Where clients dial: a TCP port on 127.0.0.1 or a unix socket path. */
  port: number;
  socketPath: string | undefined;
  url: string;
  log: ReturnType<typeof memoryLogger>;
  stop(): Promise<void>;
}

export async function startControl(
  t: Cleanup, pki: Pki, store: ModelStore,
  where: { port?: number; socketPath?: string } = {},
  extra: Partial<StreamServerOptions> = {},
): Promise<Control> {
  const server = createServer({ key: pki.key, cert: pki.cert });
  const log = memoryLogger('control');
  const stream = attachStreamServer(server, { store, authenticator: new BootstrapTokenAuthenticator(TOKENS), log, ...extra });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (where.socketPath !== undefined) server.listen(where.socketPath, resolve);
    else server.listen(where.port ?? 0, '127.0.0.1', resolve);
  });
  const port = where.socketPath === undefined ? (server.address() as AddressInfo).port : 0;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stream.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  t.teardown(stop);
  return { server, stream, port, socketPath: where.socketPath, url: `wss://127.0.0.1:${port || 15012}`, log, stop };
}

export async function tempDir(t: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-stream-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function newStore(): ModelStore {
  return new ModelStore();
}

/** A hand-driven client: sends whatever frames a test wants and records what comes back. */
export interface RawClient {
  ws: WebSocket;
  frames: ControlMessage[];
  closed: { code: number } | null;
  send(v: unknown): void;
}

export async function rawClient(t: Cleanup, pki: Pki, control: Control): Promise<RawClient> {
  const dial = () =>
    control.socketPath !== undefined
      ? tlsConnect({ path: control.socketPath, ca: pki.caPem, servername: SERVERNAME })
      : tlsConnect({ host: '127.0.0.1', port: control.port, ca: pki.caPem, servername: SERVERNAME });
  const ws = new WebSocket(`wss://${SERVERNAME}/v1/stream`, { createConnection: dial as unknown as ClientOptions['createConnection'] });
  const c: RawClient = {
    ws, frames: [], closed: null,
    send: (v) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
  };
  ws.on('message', (d) => c.frames.push(JSON.parse(d.toString()) as ControlMessage));
  ws.on('close', (code) => { c.closed = { code }; });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return c;
}
