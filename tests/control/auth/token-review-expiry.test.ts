// TokenReview answers are cached, but never past the token's own `exp` (issue 17 part 8).
// The real API server cannot be made to show this within a test: TokenRequest issues tokens of
// at least 10 minutes. So the end-to-end case runs on the hand-written API-server fixture (a token
// that expires in 2 s, judged expired by the fixture's own clock), and the bound itself on a fake
// clock with no server at all. tests/control/auth/token-review.test.ts runs everything else against
// the real kube-apiserver.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenReviewAuthenticator, kubernetesTokenReviewer, type TokenReviewStatus } from '../../../control/auth/token-review.ts';
import { loadKubeConfig } from '../../../control/discovery/kubernetes-source.ts';
import { ApiServerFixture } from '../../k8s-fixture/api-server.ts';

const fixture = await ApiServerFixture.start();
const dir = await mkdtemp(join(tmpdir(), 'k8s-tokenreview-expiry-'));
const kubeconfig = join(dir, 'kubeconfig');
await writeFile(kubeconfig, fixture.kubeconfig());
t.teardown(async () => {
  await fixture.stop();
  await rm(dir, { recursive: true, force: true });
});
const pods = (ns: string, name: string): { uid: string; node: string } | undefined =>
  ns === 'weft-system' && name === 'weft-agent-aaaaa' ? { uid: 'uid-agent-a', node: 'node-a' } : undefined;

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
