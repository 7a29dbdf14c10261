import t from 'tap';
import { createServer, type Server } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { createCsrHandler } from '../../../control/ca/csr-handler.ts';
import { HttpsCertificateSigner } from '../../../agent/identity/csr-client.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { memoryLogger } from '../../../common/log.ts';

const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const { anchor } = await generateTrustAnchor();
const ca = new LocalCa({ bundle: makeTrustBundle(anchor) });
const serving = await ca.issueServerCert(['weft-control.test']);

function control(t: { teardown(fn: () => Promise<void>): void }, listen: (s: Server) => Promise<void>): Server {
  const handler = createCsrHandler({
    ca,
    authenticator: { authenticate: async (c) => { if (c !== 'good-token') throw new Error('unknown token'); return 'node-1'; } },
    identitiesOnNode: () => new Set([CART]),
    logger: memoryLogger(),
  });
  const server = createServer({ key: serving.keyPem, cert: serving.certChain.join('\n') }, (req, res) => void handler(req, res));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  void listen(server);
  return server;
}

async function tcpControl(t: Parameters<typeof control>[0]): Promise<number> {
  const server = control(t, async () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

t.test('signs over TCP, verifying control by the anchor and server name; token read per request', async (t) => {
  const port = await tcpControl(t);
  let reads = 0;
  const signer = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'weft-control.test', caPem: anchor.certPem, token: () => { reads++; return 'good-token'; }, ttlSeconds: 120 });
  t.teardown(() => signer.close());
  const res = await signer.sign((await generateCsr(CART)).csrPem);
  t.equal(new X509Certificate(res.certChain[0]).subjectAltName, `URI:${CART}`);
  await signer.sign((await generateCsr(CART)).csrPem);
  t.equal(reads, 2);
});

t.test('signs over a unix socket', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-csr-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'control.sock');
  const server = control(t, async () => {});
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const signer = new HttpsCertificateSigner({ socketPath, servername: 'weft-control.test', caPem: [anchor.certPem], token: async () => 'good-token' });
  t.teardown(() => signer.close());
  const res = await signer.sign((await generateCsr(CART)).csrPem);
  t.equal(res.certChain.length, 1);
});

t.test('maps control\'s ApiError answers to WeftErrors with the same code', async (t) => {
  const port = await tcpControl(t);
  const base = { host: '127.0.0.1', port, servername: 'weft-control.test', caPem: anchor.certPem };
  const bad = new HttpsCertificateSigner({ ...base, token: () => 'bad-token' });
  const good = new HttpsCertificateSigner({ ...base, token: () => 'good-token' });
  t.teardown(() => { bad.close(); good.close(); });
  const csr = (await generateCsr(CART)).csrPem;
  await t.rejects(bad.sign(csr), { code: 'WEFT_ERR_CSR_UNAUTHENTICATED', message: /401.*unknown token/ });
  await t.rejects(good.sign((await generateCsr('spiffe://cluster.local/ns/shop/sa/web')).csrPem), { code: 'WEFT_ERR_CSR_FORBIDDEN', message: /403.*node node-1 may not/ });
  await t.rejects(good.sign('junk'), { code: 'WEFT_ERR_CSR_INVALID' });
  await t.rejects(
    (async () => {
      const r = new HttpsCertificateSigner({ ...base, token: () => { throw new Error('token file missing'); } });
      try { return await r.sign(csr); } finally { r.close(); }
    })(),
    { code: 'WEFT_ERR_CSR_UNAUTHENTICATED', message: /token file missing/ },
  );
});

t.test('refuses a control whose certificate does not verify', async (t) => {
  const port = await tcpControl(t);
  const foreign = await generateTrustAnchor();
  const wrongCa = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'weft-control.test', caPem: foreign.anchor.certPem, token: () => 'good-token' });
  const wrongName = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'evil.test', caPem: anchor.certPem, token: () => 'good-token' });
  t.teardown(() => { wrongCa.close(); wrongName.close(); });
  const csr = (await generateCsr(CART)).csrPem;
  await t.rejects(wrongCa.sign(csr), { code: 'WEFT_ERR_CA_UNAVAILABLE', message: /did not verify against the trust bundle/ });
  await t.rejects(wrongName.sign(csr), { code: 'WEFT_ERR_CA_UNAVAILABLE', message: /did not verify/ });
});

t.test('an unreachable control is WEFT_ERR_CA_UNAVAILABLE', async (t) => {
  // Reserve a port, then free it, so nothing listens there.
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const signer = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'weft-control.test', caPem: anchor.certPem, token: () => 'good-token' });
  t.teardown(() => signer.close());
  await t.rejects(signer.sign((await generateCsr(CART)).csrPem), { code: 'WEFT_ERR_CA_UNAVAILABLE', message: /ECONNREFUSED.*is control running/ });
});
