// A tunnel whose target does not answer (nothing listens on the port) is refused with 503 by the
// destination agent, and everything held for it is let go: its policy admission (or a DENY
// applied later would "close" a connection that no longer exists — the dashboard's policy view
// showed such a phantom), its accounting as an open connection. It held on the HTTP/2 codec,
// whose server stream stayed open after a complete answer to a request nobody read, until
// duplex-stream.ts declined the rest with RST_STREAM(NO_ERROR) as node:http2 does (RFC 9113 §8.1).
// Oracles: the destination agent's admin API (live admissions, connection counters).
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { proxyStats, tcpClient } from './helpers.ts';

const tb = await withTestbed(t, { name: 'hbone-refused', nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] }, { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] }] });
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'], services: [] } });
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);
const server = tb.pod('server').ip;
const live = async (): Promise<number> => ((await mesh.admin('n2', '/config_dump/policies')).body as { policies: { live: number } }).policies.live;

t.test('tunnels that ended and tunnels refused for a dead port hold nothing at the destination', async (t) => {
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '1000', '--connections', '6'])).ok, 'six tunnels carried and ended');
  const r = await tcpClient(mesh, 'client', server, 9999, 'echo', ['--bytes', '10']).catch(() => ({ ok: false }));
  t.notOk(r.ok, 'nothing listens on 9999: refused');
  await mesh.waitUntil(async () => (await live()) === 0 && (await proxyStats(mesh, 'n2')).paths.inbound_hbone.active === 0, 10_000, 'n2 to hold no tunnel');
  const s = (await proxyStats(mesh, 'n2')).paths.inbound_hbone;
  t.match(s, { opened: 7, closed: 7, failed: 1, active: 0 }, 'seven tunnels, all closed, the refused one counted as failed');
  t.equal(await live(), 0, 'no policy admission left');
});
