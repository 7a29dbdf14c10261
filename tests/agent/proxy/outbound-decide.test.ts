import t from 'tap';
import { decideOutbound } from '../../../agent/proxy/outbound-decide.ts';
import { decideInbound } from '../../../agent/proxy/inbound-decide.ts';
import { node, service, workload } from '../../common/fixtures.ts';
import { tableView } from '../../common/table-view.ts';

const client = workload('client', '10.244.1.10', 'n1');
const local = workload('local', '10.244.1.11', 'n1');
const remote = workload('server', '10.244.2.10', 'n2');
const remote2 = workload('server-b', '10.244.2.11', 'n2', { labels: { app: 'server' } });
const legacy = workload('legacy', '10.244.2.12', 'n2', { namespace: 'legacy', meshed: false });
const orphan = workload('orphan', '10.244.3.10', 'n3');
const notReady = workload('nr', '10.244.2.13', 'n2', { labels: { app: 'nr' }, ready: false });
const view = tableView(
  [client, local, remote, remote2, legacy, orphan, notReady],
  [service('server', '10.96.0.10', 80, 8080, { app: 'server' }), service('nr', '10.96.0.11', 80, 8080, { app: 'nr' })],
  [node('n1', '172.31.0.11'), node('n2', '172.31.0.12')],
);
const opts = { localNode: 'n1', hbonePort: 15008, pick: <T>(eps: readonly T[]) => eps[eps.length - 1] };
const src = { ip: client.ip, port: 40000 };

const cases: Array<[string, { ip: string; port: number }, { ip: string; port: number }, Record<string, unknown>]> = [
  ['meshed pod on another node → HBONE to its node', src, { ip: remote.ip, port: 8080 },
    { kind: 'hbone', target: { ip: remote.ip, port: 8080 }, node: { ip: '172.31.0.12', port: 15008 } }],
  ['meshed pod on this node → local, no TLS', src, { ip: local.ip, port: 9000 }, { kind: 'local', target: { ip: local.ip, port: 9000 } }],
  ['service VIP → an endpoint, target port resolved', src, { ip: '10.96.0.10', port: 80 },
    { kind: 'hbone', target: { ip: remote2.ip, port: 8080 }, service: 'demo/server' }],
  ['service VIP with no ready endpoint → reject fast', src, { ip: '10.96.0.11', port: 80 }, { kind: 'reject', code: 'WEFT_ERR_NO_ROUTE' }],
  ['VIP on an undeclared port → passthrough', src, { ip: '10.96.0.10', port: 81 }, { kind: 'passthrough', target: { ip: '10.96.0.10', port: 81 } }],
  ['unmeshed pod → passthrough', src, { ip: legacy.ip, port: 8080 }, { kind: 'passthrough', reason: 'destination is not meshed' }],
  ['address outside the mesh → passthrough', src, { ip: '10.1.2.3', port: 443 }, { kind: 'passthrough', reason: 'destination is outside the mesh' }],
  ['unknown source → passthrough', { ip: '10.244.1.99', port: 1 }, { ip: remote.ip, port: 8080 }, { kind: 'passthrough' }],
  ['destination on an unknown node → reject with a reason', src, { ip: orphan.ip, port: 8080 }, { kind: 'reject', code: 'WEFT_ERR_NO_ROUTE' }],
];

for (const [name, s, d, want] of cases) {
  t.test(name, async (t) => {
    t.match(decideOutbound(s, d, view, opts), want);
  });
}

t.test('HBONE decision carries both identities', async (t) => {
  const d = decideOutbound(src, { ip: remote.ip, port: 8080 }, view, opts);
  t.equal(d.kind, 'hbone');
  if (d.kind !== 'hbone') return;
  t.equal(d.source.identity, 'spiffe://cluster.local/ns/demo/sa/client');
  t.equal(d.destination.identity, 'spiffe://cluster.local/ns/demo/sa/server');
});

t.test('pod scope: the listener names the source, whatever address the connection comes from', async (t) => {
  // Inside a pod a connection may come from 127.0.0.1 or an address the model does not list;
  // the pod whose namespace holds the listener is the source.
  const named = decideOutbound({ ip: '127.0.0.1', port: 5000 }, { ip: remote.ip, port: 8080 }, view, opts, local);
  t.match(named, { kind: 'hbone', source: { key: local.key } });
  t.match(decideOutbound({ ip: client.ip, port: 5000 }, { ip: remote.ip, port: 8080 }, view, opts, local), { kind: 'hbone', source: { key: local.key } }, 'the listener wins over the address');
  t.match(decideOutbound({ ip: client.ip, port: 5000 }, { ip: remote.ip, port: 8080 }, view, opts, legacy), { kind: 'passthrough', reason: 'source is not a known meshed workload' }, 'a named pod that is not meshed has no identity to present');
});

t.test('inbound delivers only to meshed workloads on this node (no open relay)', async (t) => {
  t.match(decideInbound(remote.ip, view, 'n2'), { kind: 'deliver', destination: { key: 'demo/server' } });
  t.match(decideInbound(remote.ip, view, 'n1'), { kind: 'refuse', status: 421 });
  t.match(decideInbound(legacy.ip, view, 'n2'), { kind: 'refuse', status: 403 });
  t.match(decideInbound('10.9.9.9', view, 'n2'), { kind: 'refuse', status: 404 });
});

// The agent's own listeners (issue 17): a pod that dials node-ip:15001 reaches the listener
// directly (node addresses are never captured); passing it through would dial the listener again
// from the node, forever. The table is written out here, not derived from the code's port set.
t.test('a connection to the agent\'s own listener is refused, whoever sends it', async (t) => {
  const self = { ports: new Set([15001, 15006, 15008, 15020]), addresses: new Set(['172.31.0.11', '10.244.1.1']) };
  const withSelf = { ...opts, self };
  const node = { ip: '172.31.0.11', port: 51000 };
  const rows: Array<[string, { ip: string; port: number }, { ip: string; port: number }, 'refused' | Record<string, unknown>]> = [
    ['meshed pod → node IP:15001', src, { ip: '172.31.0.11', port: 15001 }, 'refused'],
    ['meshed pod → node IP:15006', src, { ip: '172.31.0.11', port: 15006 }, 'refused'],
    ['meshed pod → node IP:15008', src, { ip: '172.31.0.11', port: 15008 }, 'refused'],
    ['meshed pod → node IP:15020 (admin)', src, { ip: '172.31.0.11', port: 15020 }, 'refused'],
    ['meshed pod → its gateway (another node address):15001', src, { ip: '10.244.1.1', port: 15001 }, 'refused'],
    ['unmeshed pod → node IP:15001', { ip: '10.244.1.99', port: 1 }, { ip: '172.31.0.11', port: 15001 }, 'refused'],
    ['the node itself (the loop\'s second hop) → node IP:15001', node, { ip: '172.31.0.11', port: 15001 }, 'refused'],
    ['a host process → 127.0.0.1:15001', node, { ip: '127.0.0.1', port: 15001 }, 'refused'],
    ['loopback alias → 127.0.0.53:15006', node, { ip: '127.0.0.53', port: 15006 }, 'refused'],
    ['node IP on an application port → passthrough', src, { ip: '172.31.0.11', port: 10250 }, { kind: 'passthrough' }],
    ['another node\'s IP:15008 → passthrough (that agent\'s HBONE, not ours)', src, { ip: '172.31.0.12', port: 15008 }, { kind: 'passthrough' }],
    ['an outside address on port 15001 → passthrough', src, { ip: '10.1.2.3', port: 15001 }, { kind: 'passthrough' }],
    ['a meshed pod on port 15001 → still meshed', src, { ip: remote.ip, port: 15001 }, { kind: 'hbone' }],
  ];
  for (const [name, s, d, want] of rows) {
    const got = decideOutbound(s, d, view, withSelf);
    if (want === 'refused') t.match(got, { kind: 'reject', code: 'WEFT_ERR_AGENT_LISTENER', rejected: 'agent_listener' }, name);
    else t.match(got, want, name);
  }
  t.match(decideOutbound(src, { ip: '172.31.0.11', port: 15001 }, view, opts), { kind: 'passthrough' }, 'without the listener set (tests of the data path alone) nothing is refused');
});
