// Shared pieces of the HBONE tests: a mesh CA with workload certs, a mutable certificate
// provider, an HBONE server delivering to TCP, a target server, and a local "outbound" listener
// that tunnels each accepted connection (what the agent's outbound proxy will do).
import net from 'node:net';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { makeTestCa, makeTestLeaf, type TestCa, type LeafOptions } from '../../../common/test-pki.ts';
import type { CertificateProvider, WorkloadCertificate } from '../../../../agent/identity/tls-contexts.ts';
import { createHboneServer, deliverToTcp, HboneConnector, type HboneRequest, type HboneServer, type HboneServerOptions, type HboneConnectorOptions, type AuthorizeTunnel } from '../../../../agent/proxy/hbone/index.ts';
import type { SpliceResult } from '../../../../agent/proxy/tcp.ts';
import { pipeTunnel } from '../../../../agent/proxy/hbone/tunnel-end.ts';
import { createLogger } from '../../../../common/log.ts';

export const TD = 'cluster.local';
export const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
/** The fake workload IP targets listen on. */
export const TARGET_HOST = '127.0.0.2';

const quiet = createLogger('test', { write() {} });

export async function workloadCert(ca: TestCa, identity: string, opts: LeafOptions = {}, anchors: string[] = [ca.certPem]): Promise<WorkloadCertificate> {
  const leaf = await makeTestLeaf(ca, { uris: [identity], ...opts });
  const now = Date.now();
  return {
    identity,
    keyPem: leaf.keyPem,
    certChainPem: [leaf.certPem],
    trustAnchorsPem: anchors,
    notBefore: opts.notBefore ?? new Date(now - 3600_000),
    notAfter: opts.notAfter ?? new Date(now + 3600_000),
  };
}

/** A provider whose certificates tests can swap (rotation, bad certs). */
export class MapProvider implements CertificateProvider {
  readonly certs = new Map<string, WorkloadCertificate>();
  calls = 0;
  async get(identity: string): Promise<WorkloadCertificate> {
    this.calls++;
    const c = this.certs.get(identity);
    if (c === undefined) throw new Error(`no cert for ${identity}`);
    return c;
  }
}

export interface Mesh {
  ca: TestCa;
  clientCerts: MapProvider;
  serverCerts: MapProvider;
}

export async function makeMesh(): Promise<Mesh> {
  const ca = await makeTestCa();
  const clientCerts = new MapProvider();
  const serverCerts = new MapProvider();
  clientCerts.certs.set(CLIENT_ID, await workloadCert(ca, CLIENT_ID));
  serverCerts.certs.set(SERVER_ID, await workloadCert(ca, SERVER_ID));
  return { ca, clientCerts, serverCerts };
}

export interface Started {
  hbone: HboneServer;
  port: number;
  requests: HboneRequest[];
  results: SpliceResult[];
}

/** `extra`: further server options (the HTTP/2 engine, an L7 handler, a longer grace). */
export async function startHbone(mesh: Mesh, authorize?: AuthorizeTunnel, port = 0, extra: Partial<HboneServerOptions> = {}): Promise<Started> {
  const requests: HboneRequest[] = [];
  const results: SpliceResult[] = [];
  const hbone = createHboneServer({
    trustDomain: TD,
    certificates: mesh.serverCerts,
    localIdentities: () => mesh.serverCerts.certs.keys(),
    log: quiet,
    closeGraceMs: 200,
    onStream(req) {
      requests.push(req);
      // onread as the agent's SocketFactory passes it: codec tunnels read the target into one reused buffer.
      deliverToTcp(req, (host, port, onread) => net.connect({ host, port, allowHalfOpen: true, onread }), authorize, (r) => results.push(r));
    },
    ...extra,
  });
  const addr = await hbone.listen(port, '127.0.0.1');
  return { hbone, port: addr.port, requests, results };
}

export function connector(mesh: Mesh, opts: Partial<HboneConnectorOptions> = {}): HboneConnector {
  return new HboneConnector({ trustDomain: TD, certificates: mesh.clientCerts, connectTimeoutMs: 5000, closeGraceMs: 200, ...opts });
}

export function openReq(port: number, targetPort: number, over: Partial<{ src: string; dst: string }> = {}) {
  return {
    sourceIdentity: over.src ?? CLIENT_ID,
    destinationIdentity: over.dst ?? SERVER_ID,
    nodeAddress: { host: '127.0.0.1', port },
    target: { host: TARGET_HOST, port: targetPort },
  };
}

/** A TCP server on the fake workload IP; `onConn` gets every accepted socket. */
export async function startTarget(onConn: (s: net.Socket) => void): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, TARGET_HOST, resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

export function closeServer(server: net.Server, sockets?: Set<net.Socket>): Promise<void> {
  for (const s of sockets ?? []) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A target that answers `<octets> <sha256 hex>` of everything it got, once the client half-closed. */
export function hashTarget(): ReturnType<typeof startTarget> {
  return startTarget((s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (c: Buffer) => { h.update(c); n += c.length; });
    s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
  });
}

/** An "outbound" listener: each accepted connection is tunnelled to the target via HBONE. */
export async function startOutbound(conn: HboneConnector, hbonePort: number, targetPort: number): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket>; results: SpliceResult[] }> {
  const sockets = new Set<net.Socket>();
  const results: SpliceResult[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (app) => {
    sockets.add(app);
    app.on('close', () => sockets.delete(app));
    app.on('error', () => {});
    // What the agent runs (outbound.ts): the codec's per-tunnel object on the codec engine.
    conn.openTunnel(openReq(hbonePort, targetPort)).then(
      (tunnel) => pipeTunnel(app, tunnel, (r) => results.push(r)),
      () => app.resetAndDestroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets, results };
}

/** Resolves with everything a socket receives until it ends, or rejects on error. */
export function readAll(s: net.Socket | NodeJS.ReadableStream & { on: net.Socket['on'] }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

export function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - start > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

/** Waits until `value` has not changed for half a second (a stalled sender), at most 20 s. */
export async function settled(value: () => number): Promise<void> {
  const end = Date.now() + 20_000;
  let last = value();
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < 500) {
    await new Promise((r) => setTimeout(r, 50));
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
}

/** An app connection to a local listener, half-open allowed (as the agent's captured sockets). */
export function dialApp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

export interface PathOptions {
  /** Listener options (engine, grace). */
  server?: Partial<HboneServerOptions>;
  /** Connector options (engine, limits, grace). */
  client?: Partial<HboneConnectorOptions>;
}

/** The whole tunnel path to `target`: HBONE listener, connector, outbound listener; torn down after the test. */
export async function startPath(t: { teardown(fn: () => Promise<void>): void }, mesh: Mesh, target: { server: net.Server; port: number; sockets: Set<net.Socket> }, opts: PathOptions = {}) {
  const hb = await startHbone(mesh, undefined, 0, opts.server);
  const conn = connector(mesh, opts.client);
  const out = await startOutbound(conn, hb.port, target.port);
  t.teardown(async () => {
    await closeServer(out.server, out.sockets);
    await conn.close();
    await hb.hbone.close();
    await closeServer(target.server, target.sockets);
  });
  return { hb, conn, out };
}
