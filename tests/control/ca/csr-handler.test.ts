import t from 'tap';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { LocalCa, type CertificateAuthority } from '../../../control/ca/issuer.ts';
import { createCsrHandler, type NodeAuthenticator } from '../../../control/ca/csr-handler.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { memoryLogger } from '../../../common/log.ts';
import { CSR_PATH, CSR_MAX_BODY } from '../../../control/api/csr.ts';

const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const { anchor } = await generateTrustAnchor();
const localCa = new LocalCa({ bundle: makeTrustBundle(anchor) });

// Fake authenticator: token "tok-<node>" authenticates as <node>.
const authenticator: NodeAuthenticator = {
  async authenticate(credential) {
    const m = /^tok-(.+)$/.exec(credential);
    if (m === null) throw new Error('unknown token');
    return m[1];
  },
};
const scheduled: Record<string, Set<string>> = { 'node-1': new Set([CART]), 'node-2': new Set([WEB]) };

async function serve(t: { teardown(fn: () => Promise<void>): void }, ca: CertificateAuthority = localCa): Promise<number> {
  const logger = memoryLogger();
  const handler = createCsrHandler({ ca, authenticator, identitiesOnNode: (n) => scheduled[n] ?? new Set(), logger });
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

interface Answer { status: number; body: Record<string, unknown>; }

function post(port: number, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST', path = CSR_PATH): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
    });
    // A server that refuses a large body early may reset the rest of the upload; the answer counts.
    req.on('error', reject);
    req.end(body);
  });
}

t.test('signs for an identity scheduled on the authenticated node', async (t) => {
  const port = await serve(t);
  const { csrPem } = await generateCsr(CART);
  const res = await post(port, JSON.stringify({ csr: csrPem, ttlSeconds: 600 }), { authorization: 'Bearer tok-node-1' });
  t.equal(res.status, 200);
  const chain = res.body.certChain as string[];
  const leaf = new X509Certificate(chain[0]);
  t.equal(leaf.subjectAltName, `URI:${CART}`);
  t.ok(leaf.verify(new X509Certificate(anchor.certPem).publicKey));
  t.same(res.body.trustAnchors, [anchor.certPem.trim()]);
  t.equal(new Date(res.body.notAfter as string).getTime(), new Date(leaf.validTo).getTime());
});

t.test('answers each refusal with its status and ApiError code', async (t) => {
  const port = await serve(t);
  const { csrPem } = await generateCsr(CART);
  const ok = { authorization: 'Bearer tok-node-1' };
  const cases: Array<[string, () => Promise<Answer>, number, string, RegExp]> = [
    ['no credential', () => post(port, JSON.stringify({ csr: csrPem })), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED', /Authorization: Bearer/],
    ['bad credential', () => post(port, JSON.stringify({ csr: csrPem }), { authorization: 'Bearer wrong' }), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED', /not accepted: unknown token/],
    ['other node', () => post(port, JSON.stringify({ csr: csrPem }), { authorization: 'Bearer tok-node-2' }), 403, 'WEFT_ERR_CSR_FORBIDDEN', /node node-2 may not get certificates for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart/],
    ['not JSON', () => post(port, 'csr please', ok), 400, 'WEFT_ERR_CSR_INVALID', /not JSON/],
    ['no csr field', () => post(port, JSON.stringify({ pem: csrPem }), ok), 400, 'WEFT_ERR_CSR_INVALID', /lacks "csr"/],
    ['bad ttl type', () => post(port, JSON.stringify({ csr: csrPem, ttlSeconds: '10' }), ok), 400, 'WEFT_ERR_CSR_INVALID', /ttlSeconds/],
    ['bad csr', () => post(port, JSON.stringify({ csr: 'x' }), ok), 400, 'WEFT_ERR_CSR_INVALID', /PKCS#10/],
    ['too large', () => post(port, JSON.stringify({ csr: 'x'.repeat(CSR_MAX_BODY + 10) }), ok), 413, 'WEFT_ERR_CSR_INVALID', /larger than 65536 bytes/],
    ['wrong method', () => post(port, '', ok, 'GET'), 405, 'WEFT_ERR_HTTP_ROUTE', /use POST/],
    ['wrong path', () => post(port, '{}', ok, 'POST', '/v1/other'), 404, 'WEFT_ERR_HTTP_ROUTE', /no such endpoint/],
  ];
  for (const [name, send, status, code, message] of cases) {
    await t.test(name, async (t) => {
      const res = await send();
      t.equal(res.status, status);
      t.equal(res.body.code, code);
      t.match(res.body.message, message);
    });
  }
});

t.test('a body over the limit without content-length (chunked) is refused with 413', async (t) => {
  const port = await serve(t);
  const res = await new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: CSR_PATH, headers: { authorization: 'Bearer tok-node-1' } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.write('{"csr":"');
    req.write('y'.repeat(CSR_MAX_BODY));
    req.end('"}');
  });
  t.equal(res.status, 413);
});

t.test('a CA failure is a 500 without internals', async (t) => {
  const broken: CertificateAuthority = { sign: async () => { throw new Error('disk on fire at /secret/path'); } };
  const port = await serve(t, broken);
  const { csrPem } = await generateCsr(CART);
  const res = await post(port, JSON.stringify({ csr: csrPem }), { authorization: 'Bearer tok-node-1' });
  t.equal(res.status, 500);
  t.equal(res.body.code, 'WEFT_ERR_CA_UNAVAILABLE');
  t.notMatch(res.body.message, /secret/);
});
