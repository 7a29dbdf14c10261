// Control's serving certificate through a trust-anchor rotation, on a real control (TLS on a
// loopback port): after the rotation's last step agents trust only the new anchor, and control must
// still be reachable by them without a restart. The oracle is Node's TLS client verifying against
// the anchor files the test wrote, not control's own view.
import t from 'tap';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.ts';
import { startControl } from '../../../control/app.ts';
import { loadControlConfig } from '../../../control/config.ts';
import { TRUST_BUNDLE_FILE } from '../../../control/ca/anchor-rotation.ts';
import { MIN_RENEW_DELAY_MS, ServingCertificate, renewalDelayMs } from '../../../control/ca/serving-cert.ts';
import { generateTrustAnchor, writeTrustAnchor } from '../../../control/ca/trust-anchor.ts';
import type { ServerCertificate } from '../../../control/ca/issuer.ts';
import { AgentTrustBundle, ControlTrust, HttpsCertificateSigner, generateCsr } from '../../../agent/identity/index.ts';

const H = 3600_000;

t.test('renewal half-way through the lifetime, never sooner than the minimum', async (t) => {
  const at = (iso: string) => new Date(iso);
  const cases: [string, string, string, number][] = [
    ['2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-01T00:00:00Z', 24 * H],
    ['2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-02T00:00:00Z', MIN_RENEW_DELAY_MS], // due now
    ['2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-02T23:00:00Z', MIN_RENEW_DELAY_MS], // overdue
    ['2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', '2026-01-01T00:00:00Z', MIN_RENEW_DELAY_MS], // 1 min lifetime
    ['2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-03-01T00:00:00Z', (182.5 - 59) * 24 * H],
  ];
  for (const [nb, na, now, want] of cases) t.equal(renewalDelayMs(at(nb), at(na), at(now).getTime()), want, `${nb}..${na} at ${now}`);
});

t.test('a failed renewal keeps the current certificate and retries', async (t) => {
  let n = 0;
  const renewed: ServerCertificate[] = [];
  const cert = (i: number): ServerCertificate => ({ keyPem: `k${i}`, certChain: [`c${i}`], trustAnchors: [], notBefore: new Date(0), notAfter: new Date(1) });
  const log = memoryLogger();
  const s = new ServingCertificate({
    issue: async () => { n++; if (n === 2) throw new Error('CA busy'); return cert(n); },
    onRenew: (c) => renewed.push(c), log, minDelayMs: 20,
  });
  t.teardown(() => s.stop());
  t.equal((await s.start()).keyPem, 'k1');
  await s.renew('test');
  t.equal(s.current?.keyPem, 'k1', 'the failure kept the first certificate');
  t.ok(log.lines.some((l) => String(l.msg).startsWith('serving certificate could not be renewed')));
  const until = Date.now() + 5000;
  while (renewed.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.equal(renewed[0]?.keyPem, 'k3', 'the retry renewed it');
});

async function peerIssuer(port: number, ca: string | string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: 'TLSv1.3' }, () => {
      const issuer = new X509Certificate(s.getPeerX509Certificate()!.raw).issuer;
      s.end();
      resolve(issuer);
    });
    s.once('error', reject);
  });
}

const MODEL = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { weft.dev/mesh: enabled } }
---
apiVersion: v1
kind: Pod
metadata: { name: api, namespace: shop, uid: uid-api, labels: { app: api } }
spec: { nodeName: n1, serviceAccountName: api, containers: [{ name: c, image: x }] }
status: { phase: Running, podIP: 10.1.0.2, conditions: [{ type: Ready, status: "True" }] }
`;
const API_ID = 'spiffe://cluster.local/ns/shop/sa/api';
const TOKEN = 'serving-cert-test-token';

t.test('through a full anchor rotation, control stays reachable for new clients and for an agent started before it', async (t) => {
  const a = await generateTrustAnchor({ commonName: 'serving-cert test root A' });
  const b = await generateTrustAnchor({ commonName: 'serving-cert test root B' });
  const dir = await mkdtemp(join(tmpdir(), 'weft-serving-cert-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca');
  await writeTrustAnchor(ca, a.anchor.certPem, a.keyPem);
  await writeFile(join(dir, 'tokens'), `n1 ${TOKEN}\n`);
  await writeFile(join(dir, 'model.yaml'), MODEL);
  // The agent's mounted bundle: A only, as it was when the agent started, never updated.
  const agentFile = join(dir, 'agent-ca.crt');
  await writeFile(agentFile, a.anchor.certPem);
  const env: Record<string, string> = {
    WEFT_CA_DIR: ca, WEFT_CA_RELOAD_MS: '100', WEFT_LISTEN_ADDRESS: '127.0.0.1:0', WEFT_DASHBOARD_ADDRESS: '',
    WEFT_SOURCE_PATH: join(dir, 'model.yaml'), WEFT_BOOTSTRAP_TOKENS_FILE: join(dir, 'tokens'),
  };
  const cfg = loadControlConfig((k) => env[k]);
  const log = memoryLogger();
  const control = await startControl(cfg, log);
  t.teardown(() => control.close());
  const port = control.port!;
  t.match(await peerIssuer(port, a.anchor.certPem), /root A/, 'control starts with a certificate from A');

  // The agent side as agent/app.ts builds it: the file plus the anchors of control's last answer.
  const bundle = new AgentTrustBundle();
  const trust = new ControlTrust({ file: agentFile, initial: a.anchor.certPem, fromControl: () => bundle.anchors, log: memoryLogger() });
  const signer = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'localhost', caPem: trust.anchors, token: () => TOKEN });
  t.teardown(() => signer.close());
  const sign = async (s: HttpsCertificateSigner): Promise<string[]> => {
    const answer = await s.sign((await generateCsr(API_ID)).csrPem);
    bundle.update(answer.trustAnchors, new Date(answer.notBefore));
    return answer.trustAnchors;
  };
  t.equal((await sign(signer)).length, 1, 'before the rotation control sends A alone');

  const waitFor = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    const until = Date.now() + 20_000;
    let last: unknown;
    for (;;) {
      try { if (await ok()) return; } catch (err) { last = err; }
      if (Date.now() > until) {
        t.fail(`${what} (last error: ${String(last)})`);
        t.comment(log.lines.map((l) => JSON.stringify(l)).join('\n'));
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // Step 1: B trusted; the agent learns it from its next certificate.
  await writeFile(join(ca, TRUST_BUNDLE_FILE), b.anchor.certPem);
  await waitFor('control to send A and B', async () => (await sign(signer)).length === 2);
  // Step 2: B signs (key and certificate), A kept in the bundle.
  await writeFile(join(ca, 'ca.key'), b.keyPem);
  await writeFile(join(ca, 'ca.crt'), b.anchor.certPem);
  await writeFile(join(ca, TRUST_BUNDLE_FILE), a.anchor.certPem);
  // Step 3: A is gone; new clients hold B alone.
  await waitFor('control to present a certificate from B', async () => /root B/.test(await peerIssuer(port, [a.anchor.certPem, b.anchor.certPem])));
  await unlink(join(ca, TRUST_BUNDLE_FILE));
  await waitFor('a client trusting only B to reach control', async () => /root B/.test(await peerIssuer(port, b.anchor.certPem)));
  t.ok(log.lines.some((l) => l.msg === 'serving certificate renewed' && l.reason === 'the signing anchor changed'), 'control says why it renewed');

  await waitFor('the agent that started with A alone to get a certificate with B alone as the anchor', async () => (await sign(signer)).length === 1);
  // A new connection trusting only the start-time file (what the agent did before) is refused.
  const fileOnly = new HttpsCertificateSigner({ host: '127.0.0.1', port, servername: 'localhost', caPem: a.anchor.certPem, token: () => TOKEN });
  t.teardown(() => fileOnly.close());
  await t.rejects(fileOnly.sign((await generateCsr(API_ID)).csrPem), { code: 'WEFT_ERR_CA_UNAVAILABLE' },
    'a client that trusts only its start-time file cannot');
});
