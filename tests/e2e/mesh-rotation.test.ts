// Certificate rotation under traffic: with a short lifetime the agents renew at about half of it;
// a connection open across the renewal keeps flowing, and new connections use the new certificate.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { tcpClient } from './helpers.ts';

interface CertSnapshot {
  identity: string;
  state: string;
  serialNumber?: string;
  notAfter?: string;
  nextRotation?: string;
}

const tb = await withTestbed(t, {
  name: 'e2e-rotate',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
// 60 s is the shortest lifetime control issues; agents renew at about 30 s.
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_CERT_TTL_SECONDS: '60' } });
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);

async function certs(node: string): Promise<CertSnapshot[]> {
  return ((await mesh.admin(node, '/config_dump/certs')).body as { certs: CertSnapshot[] }).certs;
}

t.test('certificates rotate before expiry without dropping a connection', async (t) => {
  const first = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(first.ok);
  const [before] = (await certs('n1')).filter((c) => c.identity.endsWith('/sa/client'));
  t.ok(before !== undefined && before.state === 'valid', 'n1 holds the client certificate');
  t.ok(before.notAfter !== undefined && Date.parse(before.notAfter) - Date.now() <= 61_000, 'with the short lifetime asked for');
  const trickle = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', '38000', '--interval', '100']);
  await mesh.waitUntil(async () => {
    const [now] = (await certs('n1')).filter((c) => c.identity.endsWith('/sa/client'));
    return now !== undefined && now.notAfter !== before.notAfter;
  }, 50_000, 'the client certificate to rotate');
  const [after] = (await certs('n1')).filter((c) => c.identity.endsWith('/sa/client'));
  t.ok(Date.parse(after.notAfter ?? '') > Date.parse(before.notAfter ?? ''), 'a later notAfter');
  t.ok(Date.parse(before.notAfter ?? '') > Date.now(), 'renewed before the old one expired');
  const fresh = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(fresh.ok, 'a new connection works with the new certificate');
  const [result] = await trickle.waitForLines(1, 60_000);
  t.match(result, { ok: true, mismatch: false, errors: [] }, 'the connection open across the rotation never broke');
});
