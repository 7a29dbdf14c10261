// Who the HBONE listener and connector refuse, and how the refusal reaches the caller: peers with
// bad certificates never get a stream; bad requests get a status and a stable weft-error code.
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { makeTestCa, makeTestLeaf, type LeafOptions } from '../../../common/test-pki.ts';
import { buildSecureContext } from '../../../../agent/identity/tls-contexts.ts';
import { TunnelError, sniForIdentity } from '../../../../agent/proxy/hbone/index.ts';
import { ErrorCodes, isWeftError } from '../../../../common/errors.ts';
import {
  makeMesh, startHbone, connector, startTarget, closeServer, openReq, workloadCert,
  CLIENT_ID, SERVER_ID, TD, type Mesh, type Started,
} from './fixture.ts';

const HOUR = 3600_000;
let mesh: Mesh;
let hb: Started;
let target: Awaited<ReturnType<typeof startTarget>>;
let allow = true;

t.before(async () => {
  mesh = await makeMesh();
  hb = await startHbone(mesh, () => allow);
  target = await startTarget((s) => s.pipe(s));
});
t.teardown(async () => {
  await hb.hbone.close();
  await closeServer(target.server, target.sockets);
});

/** Opens one tunnel with the client certificate set to `cert`, and returns the rejection. */
async function refusal(t: { teardown(fn: () => Promise<void>): void }, over: Partial<Parameters<typeof openReq>[2]> & { targetPort?: number; targetHost?: string } = {}): Promise<TunnelError> {
  const conn = connector(mesh);
  t.teardown(() => conn.close());
  const req = openReq(hb.port, over.targetPort ?? target.port, over);
  if (over.targetHost !== undefined) req.target.host = over.targetHost;
  try {
    const s = await conn.open(req);
    s.destroy();
  } catch (err) {
    if (err instanceof TunnelError) return err;
    throw err;
  }
  throw new Error('tunnel was opened but should have been refused');
}

async function withClientCert(identity: string, make: () => Promise<Awaited<ReturnType<typeof workloadCert>>>): Promise<void> {
  mesh.clientCerts.certs.set(identity, await make());
}

t.test('client certificate from another CA is refused in the handshake', async (t) => {
  const other = await makeTestCa('other-ca');
  await withClientCert('spiffe://cluster.local/ns/shop/sa/foreign', () => workloadCert(other, 'spiffe://cluster.local/ns/shop/sa/foreign', {}, [mesh.ca.certPem]));
  const before = hb.requests.length;
  const err = await refusal(t, { src: 'spiffe://cluster.local/ns/shop/sa/foreign' });
  t.equal(err.code, ErrorCodes.TUNNEL_CONNECT);
  t.equal(hb.requests.length, before, 'no stream reached the handler');
});

t.test('expired client certificate is refused', async (t) => {
  const id = 'spiffe://cluster.local/ns/shop/sa/expired';
  await withClientCert(id, () => workloadCert(mesh.ca, id, { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) }));
  const before = hb.requests.length;
  const err = await refusal(t, { src: id });
  t.equal(err.code, ErrorCodes.TUNNEL_CONNECT);
  t.equal(hb.requests.length, before, 'no stream reached the handler');
});

t.test('client refuses a server whose URI SAN is not the expected destination', async (t) => {
  const good = mesh.serverCerts.certs.get(SERVER_ID)!;
  mesh.serverCerts.certs.set(SERVER_ID, await workloadCert(mesh.ca, 'spiffe://cluster.local/ns/shop/sa/impostor'));
  t.teardown(async () => { mesh.serverCerts.certs.set(SERVER_ID, good); });
  const before = hb.requests.length;
  const err = await refusal(t);
  t.equal(err.code, ErrorCodes.TUNNEL_CONNECT);
  t.ok(isWeftError(err.cause, ErrorCodes.PEER_IDENTITY), 'cause says the peer identity was wrong');
  t.equal(hb.requests.length, before);
});

for (const kind of ['expired', 'foreign-CA'] as const) {
  t.test(`client refuses a server with an ${kind} certificate`, async (t) => {
    const good = mesh.serverCerts.certs.get(SERVER_ID)!;
    const issuer = kind === 'expired' ? mesh.ca : await makeTestCa('rogue');
    const times = kind === 'expired' ? { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) } : {};
    mesh.serverCerts.certs.set(SERVER_ID, await workloadCert(issuer, SERVER_ID, times, [mesh.ca.certPem]));
    t.teardown(async () => { mesh.serverCerts.certs.set(SERVER_ID, good); });
    const before = hb.requests.length;
    const err = await refusal(t);
    t.equal(err.code, ErrorCodes.TUNNEL_CONNECT);
    t.match(err.message, kind === 'expired' ? /CERT_HAS_EXPIRED/ : /UNABLE_TO_VERIFY|unable to verify/i);
    t.equal(hb.requests.length, before);
  });
}

t.test('an SNI naming no local workload gets no certificate', async (t) => {
  const err = await refusal(t, { dst: 'spiffe://cluster.local/ns/shop/sa/not-here' });
  t.equal(err.code, ErrorCodes.TUNNEL_CONNECT);
});

const oddLeaves: [string, LeafOptions][] = [
  ['no URI SAN', { dns: ['frontend.shop.svc'] }],
  ['two URI SANs', { uris: [CLIENT_ID, 'spiffe://cluster.local/ns/shop/sa/second'] }],
  ['a URI SAN from another trust domain', { uris: ['spiffe://evil.example/ns/shop/sa/frontend'] }],
  ['a URI SAN that is no workload SPIFFE ID', { uris: ['https://frontend.shop/'] }],
];
for (const [name, leaf] of oddLeaves) {
  t.test(`client certificate with ${name}: 403 ${ErrorCodes.PEER_IDENTITY}`, async (t) => {
    const id = `spiffe://cluster.local/ns/shop/sa/odd-${name.replace(/[^a-z]/g, '')}`;
    const made = await makeTestLeaf(mesh.ca, leaf);
    mesh.clientCerts.certs.set(id, {
      identity: id, keyPem: made.keyPem, certChainPem: [made.certPem], trustAnchorsPem: [mesh.ca.certPem],
      notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + HOUR),
    });
    const before = hb.requests.length;
    const err = await refusal(t, { src: id });
    t.equal(err.code, ErrorCodes.TUNNEL_REFUSED);
    t.equal(err.status, 403);
    t.equal(err.serverCode, ErrorCodes.PEER_IDENTITY);
    t.equal(hb.requests.length, before, 'the handler never saw it');
  });
}

t.test('a TLS 1.2-only client is refused', async (t) => {
  const cert = mesh.clientCerts.certs.get(CLIENT_ID)!;
  const outcome = await new Promise<string>((resolve) => {
    // Key and cert given directly: a secureContext would override the version bounds.
    const s = tls.connect({
      host: '127.0.0.1', port: hb.port, servername: sniForIdentity(SERVER_ID), ALPNProtocols: ['h2'],
      key: cert.keyPem, cert: cert.certChainPem[0], ca: mesh.ca.certPem,
      minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined,
    });
    s.on('secureConnect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.equal(outcome, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
});

t.test('CONNECT targets that are not host:port get 400', async (t) => {
  for (const [host, port] of [['not_a_host', 80], ['127.0.0.2', 0], ['127.0.0.2', 70000]] as const) {
    const err = await refusal(t, { targetHost: host, targetPort: port });
    t.equal(err.code, ErrorCodes.TUNNEL_REFUSED, `${host}:${port}`);
    t.equal(err.status, 400);
    t.equal(err.serverCode, ErrorCodes.TUNNEL_TARGET);
  }
});

t.test('methods other than CONNECT get 405', async (t) => {
  const ctx = buildSecureContext(mesh.clientCerts.certs.get(CLIENT_ID)!, [mesh.ca.certPem]);
  const session = http2.connect(`https://127.0.0.1:${hb.port}`, {
    createConnection: () => tls.connect({ host: '127.0.0.1', port: hb.port, servername: sniForIdentity(SERVER_ID), secureContext: ctx, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
  });
  t.teardown(async () => { session.destroy(); });
  const status = await new Promise<number>((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': '/' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 405);
});

t.test('unauthorized peers get 403 forbidden', async (t) => {
  allow = false;
  t.teardown(async () => { allow = true; });
  const err = await refusal(t);
  t.equal(err.status, 403);
  t.equal(err.serverCode, ErrorCodes.TUNNEL_FORBIDDEN);
});

t.test('nothing listening on the target: 503 with the upstream code', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.2', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const err = await refusal(t, { targetPort: port });
  t.equal(err.code, ErrorCodes.TUNNEL_REFUSED);
  t.equal(err.status, 503);
  t.equal(err.serverCode, ErrorCodes.UPSTREAM_CONNECT);
});

t.test('a peer agent that is down: TUNNEL_CONNECT', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const conn = connector(mesh);
  t.teardown(() => conn.close());
  const err = await conn.open(openReq(port, target.port)).then(() => null, (e: unknown) => e);
  t.ok(isWeftError(err, ErrorCodes.TUNNEL_CONNECT));
  t.match((err as Error).message, /ECONNREFUSED/);
  t.equal(TD, 'cluster.local');
});
