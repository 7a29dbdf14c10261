// The token-review node authenticator against a REAL kube-apiserver v1.28.7 (tests/kube): control
// runs with the chart's weft-control ServiceAccount (its ClusterRole lets it create TokenReviews),
// agents hold real pod-bound projected tokens from the TokenRequest API. A valid agent token for
// node X gets only X's identities; made-up, foreign-audience, foreign-account, unbound tokens and
// tokens of a deleted pod are refused with a clear reason.
// What the real 1.28 server cannot issue stays on the hand-written fixture (tests/k8s-fixture), at
// the end: an EXPIRED token (TokenRequest's minimum lifetime is 10 minutes) and a token carrying
// the node-name claim (Kubernetes >= 1.30).
import t from 'tap';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeftError } from '../../../common/errors.ts';
import { memoryLogger } from '../../../common/log.ts';
import { CSR_PATH } from '../../../control/api/csr.ts';
import { createNodeAuthenticator, nodeAuthenticatorNames, type NodeAuthenticator } from '../../../control/auth/authenticator.ts';
import { TokenReviewAuthenticator, kubernetesTokenReviewer, type TokenReviewStatus } from '../../../control/auth/token-review.ts';
import { createCsrHandler } from '../../../control/ca/csr-handler.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { KubernetesSource, loadKubeConfig } from '../../../control/discovery/kubernetes-source.ts';
import { ModelStore } from '../../../control/model/model-store.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { ApiServerFixture } from '../../k8s-fixture/api-server.ts';
import { namespace, node, pod } from '../../k8s-fixture/objects.ts';
import { withKubeCluster, type KubeObject } from '../../kube/kube-cluster.ts';
import { installChartAccess } from '../../kube/chart-objects.ts';

type Tap = { ok(v: unknown, m: string): unknown; match(a: unknown, b: RegExp): unknown; notMatch(a: unknown, b: string, m: string): unknown };

async function refusedBy(auth: NodeAuthenticator, t: Tap, token: string, pattern: RegExp): Promise<void> {
  const err = await auth.authenticate(token).then(() => null, (e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_STREAM_UNAUTHENTICATED'), 'refused with WEFT_ERR_STREAM_UNAUTHENTICATED');
  t.match((err as Error).message, pattern);
  t.notMatch((err as Error).message, token, 'never echoes the token');
}

t.test('registered as `token-review`', async (t) => {
  t.ok(nodeAuthenticatorNames().includes('token-review'));
});

t.test('a reviewer that ignores audiences cannot widen them; outages are clear', async (t) => {
  const pods = (): { uid: string; node: string } => ({ uid: 'u', node: 'node-a' });
  const lax = new TokenReviewAuthenticator({
    review: async (): Promise<TokenReviewStatus> => ({ authenticated: true, audiences: ['other'], user: { username: 'system:serviceaccount:weft-system:weft-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-a'] } } }),
    pods,
  });
  await t.rejects(lax.authenticate('x'), { code: 'WEFT_ERR_STREAM_UNAUTHENTICATED', message: /not weft-control/ });
  const down = new TokenReviewAuthenticator({ review: () => new Promise(() => undefined), pods, timeoutMs: 100 });
  await t.rejects(down.authenticate('x'), { message: /TokenReview API.*no answer/ });
  t.throws(() => new TokenReviewAuthenticator({ review: lax.authenticate as never, pods, agentServiceAccount: 'nope' }), { code: 'WEFT_ERR_CONFIG_INVALID' });
});

const kube = await withKubeCluster(t, { name: 'token-review' });
if (kube !== null) {
  const { kubeconfig } = await installChartAccess(kube);
  const podObj = (ns: string, name: string, nodeName: string, sa: string, hostNetwork = false): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: name.replace(/-[a-z0-9]+$/, '') } },
    spec: { nodeName, serviceAccountName: sa, hostNetwork, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'x' }] },
  });
  await kube.apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/mesh': 'enabled' } } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'cart', namespace: 'shop' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'shop' } },
    podObj('weft-system', 'weft-agent-aaaaa', 'node-a', 'weft-agent', true),
    podObj('weft-system', 'weft-agent-bbbbb', 'node-b', 'weft-agent', true),
    podObj('shop', 'cart-1', 'node-a', 'cart'),
    podObj('shop', 'web-1', 'node-b', 'web'),
  ]);
  await kube.setPodStatus('weft-system', 'weft-agent-aaaaa', { podIP: '192.168.0.1', ready: true });
  await kube.setPodStatus('weft-system', 'weft-agent-bbbbb', { podIP: '192.168.0.2', ready: true });
  await kube.setPodStatus('shop', 'cart-1', { podIP: '10.244.1.5', ready: true });
  await kube.setPodStatus('shop', 'web-1', { podIP: '10.244.2.5', ready: true });

  // Control's view: the kubernetes source and the authenticator, both as weft-control.
  const store = new ModelStore();
  const source = new KubernetesSource({ kubeconfig, trustDomain: 'cluster.local', log: memoryLogger(), debounceMs: 10 });
  await source.start((r) => store.replaceAll(r));
  t.teardown(() => source.stop());
  const pods = (ns: string, name: string): { uid: string; node: string } | undefined => {
    const w = store.get(`workload:${ns}/${name}`);
    return w?.kind === 'workload' ? { uid: w.uid, node: w.node } : undefined;
  };
  const auth = await createNodeAuthenticator('token-review', { kubeconfig, pods, cacheTtlMs: 0 });
  const uidOf = async (ns: string, name: string): Promise<string> => ((await kube.must('GET', `/api/v1/namespaces/${ns}/pods/${name}`)).metadata as { uid: string }).uid;
  const token = async (ns: string, sa: string, podName: string | null, audiences = ['weft-control']): Promise<string> =>
    kube.serviceAccountToken(ns, sa, { audiences, ...(podName === null ? {} : { pod: { name: podName, uid: await uidOf(ns, podName) } }) });
  const agentToken = (podName: string, audiences?: string[]): Promise<string> => token('weft-system', 'weft-agent', podName, audiences);
  const refused = (t: Tap, tok: string, pattern: RegExp): Promise<void> => refusedBy(auth, t, tok, pattern);

  t.test('the node comes from the bound pod', async (t) => {
    t.same(await auth.authenticate(await agentToken('weft-agent-aaaaa')), { node: 'node-a' });
    t.same(await auth.authenticate(await agentToken('weft-agent-bbbbb')), { node: 'node-b' });
  });

  t.test('made-up, foreign-audience, foreign-account and unbound tokens are refused', async (t) => {
    await refused(t, 'not-a-token-at-all-0123456789', /refused the ServiceAccount token/);
    await refused(t, await agentToken('weft-agent-aaaaa', ['https://kubernetes.default.svc.cluster.local']), /audiences/);
    await refused(t, await token('shop', 'cart', 'cart-1'), /not the agent ServiceAccount weft-system\/weft-agent/);
    await refused(t, await token('weft-system', 'weft-agent', null), /not bound to a pod/);
  });

  t.test('a token of a deleted pod dies with it; a stale model cannot be fooled', async (t) => {
    await kube.apply([podObj('weft-system', 'weft-agent-ccccc', 'node-a', 'weft-agent', true)]);
    const tok = await agentToken('weft-agent-ccccc');
    // Control does not know the pod yet, or knows another pod of that name: both refused.
    await refusedBy(await createNodeAuthenticator('token-review', { kubeconfig, pods: () => undefined, cacheTtlMs: 0 }), t, tok, /does not know/);
    await refusedBy(await createNodeAuthenticator('token-review', { kubeconfig, pods: () => ({ uid: 'uid-of-another-pod', node: 'node-a' }), cacheTtlMs: 0 }), t, tok, /earlier pod/);
    const del = await kube.kubectl(['delete', 'pod', '-n', 'weft-system', 'weft-agent-ccccc', '--grace-period=0', '--force']);
    t.equal(del.code, 0, del.stderr);
    await refused(t, tok, /refused the ServiceAccount token|does not know/);
    // The API server itself stops accepting it once its own view of the pod is gone.
    const review = async (): Promise<boolean> => ((await kube.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tok, audiences: ['weft-control'] } })).status as { authenticated?: boolean }).authenticated === true;
    for (let i = 0; i < 150 && (await review()); i++) await new Promise((r) => setTimeout(r, 200));
    t.notOk(await review(), 'the API server refuses the dead pod\'s token');
    await refused(t, tok, /refused the ServiceAccount token/);
  });

  t.test('answers are cached by token digest for a short while', async (t) => {
    let calls = 0;
    const reviewer = kubernetesTokenReviewer(loadKubeConfig(kubeconfig));
    const cached = new TokenReviewAuthenticator({ review: (tok, aud) => (calls++, reviewer(tok, aud)), pods, cacheTtlMs: 60_000 });
    const tok = await agentToken('weft-agent-aaaaa');
    await cached.authenticate(tok);
    await cached.authenticate(tok);
    t.equal(calls, 1);
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
    const tokenA = await agentToken('weft-agent-aaaaa');
    const cart = 'spiffe://cluster.local/ns/shop/sa/cart';
    const web = 'spiffe://cluster.local/ns/shop/sa/web';
    t.equal((await ask(tokenA, cart)).status, 200, 'node-a agent gets cart (scheduled on node-a)');
    const other = await ask(tokenA, web);
    t.equal(other.status, 403, 'but not web (on node-b)');
    t.equal(other.body.code, 'WEFT_ERR_CSR_FORBIDDEN');
    const foreign = await ask(await agentToken('weft-agent-aaaaa', ['vault']), cart);
    t.equal(foreign.status, 401);
    t.equal(foreign.body.code, 'WEFT_ERR_CSR_UNAUTHENTICATED');
    t.match(foreign.body.message, /audiences/);
  });
}

// What a real 1.28 API server cannot issue in a test: an expired token, and the node-name claim.
t.test('hand-written fixture: expired tokens and the node-name claim', async (t) => {
  const fixture = await ApiServerFixture.start();
  const dir = await mkdtemp(join(tmpdir(), 'k8s-tokenreview-'));
  t.teardown(async () => {
    await fixture.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, fixture.kubeconfig());
  fixture.apply([namespace('weft-system', false), node('node-b', '192.168.0.2'), pod({ name: 'weft-agent-bbbbb', namespace: 'weft-system', node: 'node-b', ip: '192.168.0.2', serviceAccount: 'weft-agent', hostNetwork: true, uid: 'uid-agent-b' })]);
  const pods = (): { uid: string; node: string } => ({ uid: 'uid-agent-b', node: 'node-b' });
  const auth = await createNodeAuthenticator('token-review', { kubeconfig, pods, cacheTtlMs: 0 });
  const mint = (extra: { nodeName?: string; ttlSeconds?: number }): string => fixture.mintServiceAccountToken({ namespace: 'weft-system', serviceAccount: 'weft-agent', podName: 'weft-agent-bbbbb', podUid: 'uid-agent-b', audiences: ['weft-control'], ...extra });
  t.same(await auth.authenticate(mint({ nodeName: 'node-b' })), { node: 'node-b' }, 'node claim');
  await refusedBy(auth, t, mint({ ttlSeconds: -1 }), /expired/);
});
