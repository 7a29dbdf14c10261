// Trust anchor rotation end to end, with traffic running the whole time: a trickle connection open
// across every step plus new connections opened back to back. Root A → root B in three edits of
// the CA directory (add B; sign with B; drop A); each step waits until every agent has moved, and
// not a single connection may fail. Control runs on a real kube-apiserver (tests/kube) as its
// cluster, as the chart's weft-control ServiceAccount, with agents attested by real pod-bound tokens.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startKubeTestbedCluster } from '../kube/testbed-cluster.ts';
import { generateTrustAnchor } from '../../control/ca/trust-anchor.ts';
import { TRUST_BUNDLE_FILE } from '../../control/ca/anchor-rotation.ts';
import { HttpsCertificateSigner, generateCsr } from '../../agent/identity/index.ts';
import { tcpClient, type TcpResult } from './helpers.ts';

const tb = await withTestbed(t, {
  name: 'k8s-rot',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'shop' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'shop' }] },
  ],
});
const spec: ClusterSpec = { meshedNamespaces: ['shop'] };
const cluster = await startKubeTestbedCluster(t, 'k8s-rot', tb.model, spec);
if (cluster !== null) {
  const mesh = await Mesh.start(tb, { cluster: spec, controlEnv: { ...cluster.controlEnv, WEFT_CA_RELOAD_MS: '200' }, tokens: cluster.tokens });
  t.teardown(() => mesh.stop());
  const server = tb.pod('server').ip;
  await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);

  interface TrustDump { version: string | null; anchors: Array<{ fingerprint256: string }> }
  interface CertDump { identity: string; serialNumber: string | null }
  const nodes = ['n1', 'n2'];
  const trust = async (n: string): Promise<TrustDump> => ((await mesh.admin(n, '/config_dump/trust')).body as { trust: TrustDump }).trust;
  const certs = async (n: string): Promise<CertDump[]> => ((await mesh.admin(n, '/config_dump/certs')).body as { certs: CertDump[] }).certs;
  const fingerprints = async (n: string): Promise<string[]> => (await trust(n)).anchors.map((a) => a.fingerprint256).sort();
  const serials = async (): Promise<Map<string, string | null>> => {
    const out = new Map<string, string | null>();
    for (const n of nodes) for (const c of await certs(n)) out.set(`${n} ${c.identity}`, c.serialNumber);
    return out;
  };

  async function put(file: string, text: string): Promise<void> {
    await writeFile(`${file}.tmp`, text, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  t.test('root rotation A → B with traffic running and zero failed connections', async (t) => {
    const warm = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '4096']);
    t.ok(warm.ok, 'traffic flows under root A');
    const certA = new X509Certificate(await mesh.caPem());
    const { anchor: b, keyPem: keyB } = await generateTrustAnchor({ commonName: 'weft root CA B' });
    const certB = new X509Certificate(b.certPem);
    const { readFile } = await import('node:fs/promises');
    const keyA = await readFile(join(mesh.caDir, 'ca.key'), 'utf8');
    for (const n of nodes) t.same(await fingerprints(n), [certA.fingerprint256], `${n} trusts A only`);

    // Traffic for the whole sequence: one long connection, and new connections back to back.
    const trickle = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', '25000', '--interval', '100']);
    let stop = false;
    const results: TcpResult[] = [];
    const churn = (async () => {
      while (!stop) results.push(await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '2048', '--connections', '3'], 60_000));
    })();

    // 1. Add B next to A: every agent must accept both before anyone presents a B certificate.
    await put(join(mesh.caDir, TRUST_BUNDLE_FILE), b.certPem);
    const both = [certA.fingerprint256, certB.fingerprint256].sort();
    for (const n of nodes) await mesh.waitUntil(async () => JSON.stringify(await fingerprints(n)) === JSON.stringify(both), 30_000, `${n} to trust A and B`);
    t.pass('step 1: every agent trusts A and B');

    // 2. B signs; A stays trusted. Every workload certificate is re-issued early, under B.
    const before = await serials();
    await put(join(mesh.caDir, TRUST_BUNDLE_FILE), certA.toString());
    await put(join(mesh.caDir, 'ca.key'), keyB);
    await put(join(mesh.caDir, 'ca.crt'), b.certPem);
    await mesh.waitUntil(async () => {
      const now = await serials();
      return [...before].every(([k, s]) => now.get(k) !== undefined && now.get(k) !== s);
    }, 30_000, 'every workload certificate to be re-issued');
    t.pass('step 2: every workload certificate re-issued');
    // Control's own certificate follows the signer too, so a client here trusts A and B, as every agent does since step 1.
    const signer = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: [certA.toString(), b.certPem], token: () => cluster.tokens.n1 });
    t.teardown(() => signer.close());
    const issued = await signer.sign((await generateCsr('spiffe://cluster.local/ns/shop/sa/client')).csrPem);
    t.ok(new X509Certificate(issued.certChain[0]).checkIssued(certB), 'control now signs with B');

    // 3. Drop A: agents accept B only.
    await unlink(join(mesh.caDir, TRUST_BUNDLE_FILE));
    for (const n of nodes) await mesh.waitUntil(async () => JSON.stringify(await fingerprints(n)) === JSON.stringify([certB.fingerprint256]), 30_000, `${n} to trust B only`);
    t.pass('step 3: every agent trusts B only');

    // Keep traffic going a little under B alone, then stop and count.
    const fresh = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '4096']);
    t.ok(fresh.ok, 'a new connection after the rotation works');
    stop = true;
    await churn;
    const failed = results.filter((r) => !r.ok);
    t.ok(results.length >= 3, `new connections kept opening during the rotation (${results.length * 3})`);
    t.same(failed.flatMap((r) => r.errors), [], 'no new connection failed');
    const [line] = await trickle.waitForLines(1, 60_000);
    t.match(line, { ok: true, mismatch: false, errors: [] }, 'the trickle connection never broke');
    t.notMatch(mesh.controlLog(), /"level":"error"/, 'control logged no error');
    void keyA;
  });
}
