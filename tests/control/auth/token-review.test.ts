// The token-review node authenticator against the API server fixture's TokenReview endpoint, and
// through the CSR handler: a valid agent token for node X gets only X's identities; invalid,
// expired, foreign-audience and foreign-account tokens are refused with a clear reason.
import t from 'tap';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeftError } from '../../../common/errors.ts';
import { memoryLogger } from '../../../common/log.ts';
import { CSR_PATH } from '../../../control/api/csr.ts';
import { createNodeAuthenticator, nodeAuthenticatorNames } from '../../../control/auth/authenticator.ts';
import { TokenReviewAuthenticator, kubernetesTokenReviewer, type TokenReviewStatus } from '../../../control/auth/token-review.ts';
import { createCsrHandler } from '../../../control/ca/csr-handler.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { KubernetesSource, loadKubeConfig } from '../../../control/discovery/kubernetes-source.ts';
import { ModelStore } from '../../../control/model/model-store.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { ApiServerFixture } from '../../k8s-fixture/api-server.ts';
import { namespace, node, pod } from '../../k8s-fixture/objects.ts';

const fixture = await ApiServerFixture.start();
const dir = await mkdtemp(join(tmpdir(), 'k8s-tokenreview-'));
const kubeconfig = join(dir, 'kubeconfig');
await writeFile(kubeconfig, fixture.kubeconfig());
fixture.apply([
  namespace('weft-system', false),
  namespace('shop', true),
  node('node-a', '192.168.0.1'),
  node('node-b', '192.168.0.2'),
  pod({ name: 'weft-agent-aaaaa', namespace: 'weft-system', node: 'node-a', ip: '192.168.0.1', serviceAccount: 'weft-agent', hostNetwork: true, uid: 'uid-agent-a' }),
  pod({ name: 'weft-agent-bbbbb', namespace: 'weft-system', node: 'node-b', ip: '192.168.0.2', serviceAccount: 'weft-agent', hostNetwork: true, uid: 'uid-agent-b' }),
  pod({ name: 'cart-1', namespace: 'shop', node: 'node-a', ip: '10.244.1.5', serviceAccount: 'cart', labels: { app: 'cart' }, uid: 'uid-cart-1' }),
  pod({ name: 'web-1', namespace: 'shop', node: 'node-b', ip: '10.244.2.5', serviceAccount: 'web', labels: { app: 'web' }, uid: 'uid-web-1' }),
]);
const store = new ModelStore();
const source = new KubernetesSource({ kubeconfig, trustDomain: 'cluster.local', log: memoryLogger(), debounceMs: 10 });
await source.start((r) => store.replaceAll(r));
t.teardown(async () => {
  await source.stop();
  await fixture.stop();
  await rm(dir, { recursive: true, force: true });
});

const pods = (ns: string, name: string): { uid: string; node: string } | undefined => {
  const w = store.get(`workload:${ns}/${name}`);
  return w?.kind === 'workload' ? { uid: w.uid, node: w.node } : undefined;
};
const auth = await createNodeAuthenticator('token-review', { kubeconfig, pods, cacheTtlMs: 0 });
const agentToken = (podName: string, podUid: string, extra: { nodeName?: string; audiences?: string[]; ttlSeconds?: number; serviceAccount?: string } = {}): string =>
  fixture.mintServiceAccountToken({ namespace: 'weft-system', serviceAccount: extra.serviceAccount ?? 'weft-agent', podName, podUid, audiences: extra.audiences ?? ['weft-control'], ...(extra.nodeName === undefined ? {} : { nodeName: extra.nodeName }), ...(extra.ttlSeconds === undefined ? {} : { ttlSeconds: extra.ttlSeconds }) });

async function refused(t: Tap, token: string, pattern: RegExp): Promise<void> {
  const err = await auth.authenticate(token).then(() => null, (e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_STREAM_UNAUTHENTICATED'), 'refused with WEFT_ERR_STREAM_UNAUTHENTICATED');
  t.match((err as Error).message, pattern);
  t.notMatch((err as Error).message, token, 'never echoes the token');
}
type Tap = { ok(v: unknown, m: string): unknown; match(a: unknown, b: RegExp): unknown; notMatch(a: unknown, b: string, m: string): unknown };

t.test('registered as `token-review`; sends spec.audiences', async (t) => {
  t.ok(nodeAuthenticatorNames().includes('token-review'));
  const token = agentToken('weft-agent-aaaaa', 'uid-agent-a');
  await auth.authenticate(token);
  const reviews = fixture.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/tokenreviews'));
  t.ok(reviews.length > 0, 'posted a TokenReview');
});

t.test('the node comes from the bound pod, or from the node claim', async (t) => {
  t.same(await auth.authenticate(agentToken('weft-agent-aaaaa', 'uid-agent-a')), { node: 'node-a' });
  t.same(await auth.authenticate(agentToken('weft-agent-bbbbb', 'uid-agent-b')), { node: 'node-b' });
  t.same(await auth.authenticate(agentToken('weft-agent-bbbbb', 'uid-agent-b', { nodeName: 'node-b' })), { node: 'node-b' }, 'node claim');
});

t.test('invalid, expired, foreign-audience and foreign-account tokens are refused', async (t) => {
  await refused(t, 'not-a-token-at-all-0123456789', /refused the ServiceAccount token.*invalid bearer token/);
  const expired = agentToken('weft-agent-aaaaa', 'uid-agent-a', { ttlSeconds: -1 });
  await refused(t, expired, /expired/);
  await refused(t, agentToken('weft-agent-aaaaa', 'uid-agent-a', { audiences: ['https://kubernetes.default.svc.cluster.local'] }), /audiences/);
  await refused(t, agentToken('cart-1', 'uid-cart-1', { serviceAccount: 'cart' }), /not the agent ServiceAccount weft-system\/weft-agent/);
  await refused(t, agentToken('weft-agent-zzzzz', 'uid-agent-z'), /does not know/);
  await refused(t, agentToken('weft-agent-aaaaa', 'uid-of-an-old-pod'), /earlier pod/);
  await refused(t, fixture.mintServiceAccountToken({ namespace: 'weft-system', serviceAccount: 'weft-agent', audiences: ['weft-control'] }), /not bound to a pod/);
});

t.test('a reviewer that ignores audiences cannot widen them; outages are clear', async (t) => {
  const lax = new TokenReviewAuthenticator({
    review: async (): Promise<TokenReviewStatus> => ({ authenticated: true, audiences: ['other'], user: { username: 'system:serviceaccount:weft-system:weft-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-a'] } } }),
    pods,
  });
  await t.rejects(lax.authenticate('x'), { code: 'WEFT_ERR_STREAM_UNAUTHENTICATED', message: /not weft-control/ });
  const down = new TokenReviewAuthenticator({ review: () => new Promise(() => undefined), pods, timeoutMs: 100 });
  await t.rejects(down.authenticate('x'), { message: /TokenReview API.*no answer/ });
  t.throws(() => new TokenReviewAuthenticator({ review: lax.authenticate as never, pods, agentServiceAccount: 'nope' }), { code: 'WEFT_ERR_CONFIG_INVALID' });
});

t.test('answers are cached by token digest for a short while', async (t) => {
  let calls = 0;
  const reviewer = kubernetesTokenReviewer(loadKubeConfig(kubeconfig));
  const cached = new TokenReviewAuthenticator({ review: (tok, aud) => (calls++, reviewer(tok, aud)), pods, cacheTtlMs: 60_000 });
  const token = agentToken('weft-agent-aaaaa', 'uid-agent-a');
  await cached.authenticate(token);
  await cached.authenticate(token);
  t.equal(calls, 1);
});

/** A JWT-shaped token (unsigned: the fixture, like the API server, is the one that authenticates it). */
const jwtLike = (claims: Record<string, unknown>): string =>
  [{ alg: 'RS256', kid: 'test' }, claims].map((o) => Buffer.from(JSON.stringify(o)).toString('base64url')).join('.') + '.c2lnbmF0dXJl';

t.test('a cached answer never outlives the token: an expired token is asked about again and refused', async (t) => {
  let calls = 0;
  const reviewer = kubernetesTokenReviewer(loadKubeConfig(kubeconfig));
  const cached = new TokenReviewAuthenticator({ review: (tok, aud) => (calls++, reviewer(tok, aud)), pods, cacheTtlMs: 60_000 });
  // Expires in 2 s (the fixture's own clock decides it is expired, independently of the cache).
  const exp = Math.floor(Date.now() / 1000) + 2;
  const token = jwtLike({ iss: 'https://kubernetes.default.svc', aud: ['weft-control'], exp, sub: 'system:serviceaccount:weft-system:weft-agent' });
  fixture.addToken(token, { namespace: 'weft-system', serviceAccount: 'weft-agent', podName: 'weft-agent-aaaaa', podUid: 'uid-agent-a', audiences: ['weft-control'], ttlSeconds: exp - Date.now() / 1000 });
  t.same(await cached.authenticate(token), { node: 'node-a' });
  t.same(await cached.authenticate(token), { node: 'node-a' }, 'still valid: from the cache');
  t.equal(calls, 1, 'one TokenReview while the token is valid');
  await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 300));
  await t.rejects(cached.authenticate(token), { code: 'WEFT_ERR_STREAM_UNAUTHENTICATED', message: /expired/ }, 'refused once expired, though the cache TTL (60 s) has not run out');
  t.equal(calls, 2, 'the expired token was asked about again');
});

t.test('the cache bound is min(TTL, exp), read without verifying; tokens without exp keep the TTL', async (t) => {
  let now = 1_000_000_000_000;
  let calls = 0;
  const ok = async (): Promise<TokenReviewStatus> => (calls++, { authenticated: true, user: { username: 'system:serviceaccount:weft-system:weft-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-a'] } } });
  const a = new TokenReviewAuthenticator({ review: ok, pods, cacheTtlMs: 30_000, now: () => now });
  const soon = jwtLike({ exp: now / 1000 + 10 });
  await a.authenticate(soon);
  now += 9_999;
  await a.authenticate(soon);
  t.equal(calls, 1, 'cached up to exp');
  now += 1;
  await a.authenticate(soon);
  t.equal(calls, 2, 'not served from the cache at exp (10 s < the 30 s TTL)');
  const late = jwtLike({ exp: now / 1000 + 3600 });
  await a.authenticate(late);
  now += 29_999;
  await a.authenticate(late);
  t.equal(calls, 3, 'a long-lived token is cached for the TTL');
  now += 1;
  await a.authenticate(late);
  t.equal(calls, 4, 'and no longer');
  const expired = jwtLike({ exp: now / 1000 - 1 });
  await a.authenticate(expired);
  await a.authenticate(expired);
  t.equal(calls, 6, 'an answer for a token already past exp is never cached');
  for (const odd of ['opaque-token', 'a.b.c', `x.${Buffer.from('{"exp":"soon"}').toString('base64url')}.y`, `x.${Buffer.from('null').toString('base64url')}.y`]) {
    calls = 0;
    await a.authenticate(odd);
    await a.authenticate(odd);
    t.equal(calls, 1, `no usable exp (${odd.slice(0, 12)}…): cached for the TTL`);
  }
});

t.test('through the CSR handler: node X gets only identities of pods on X', async (t) => {
  const { anchor } = await generateTrustAnchor();
  const ca = new LocalCa({ bundle: makeTrustBundle(anchor) });
  const handler = createCsrHandler({
    ca,
    authenticator: { authenticate: async (c) => (await auth.authenticate(c)).node },
    identitiesOnNode: (n) => store.identitiesOnNode(n),
    logger: memoryLogger(),
  });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  const ask = async (token: string, id: string): Promise<{ status: number; body: { code?: string; message?: string } }> => {
    const { csrPem } = await generateCsr(id);
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: CSR_PATH, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code?: string } }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ csr: csrPem }));
    });
  };
  const tokenA = agentToken('weft-agent-aaaaa', 'uid-agent-a');
  const cart = 'spiffe://cluster.local/ns/shop/sa/cart';
  const web = 'spiffe://cluster.local/ns/shop/sa/web';
  t.equal((await ask(tokenA, cart)).status, 200, 'node-a agent gets cart (scheduled on node-a)');
  const other = await ask(tokenA, web);
  t.equal(other.status, 403, 'but not web (on node-b)');
  t.equal(other.body.code, 'WEFT_ERR_CSR_FORBIDDEN');
  const foreign = await ask(agentToken('weft-agent-aaaaa', 'uid-agent-a', { audiences: ['vault'] }), cart);
  t.equal(foreign.status, 401);
  t.equal(foreign.body.code, 'WEFT_ERR_CSR_UNAUTHENTICATED');
  t.match(foreign.body.message, /audiences/);
});
