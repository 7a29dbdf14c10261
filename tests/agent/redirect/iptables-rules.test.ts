import t from 'tap';
import { parseMangle, planChange, planUninstall, workloadRules } from '../../../agent/redirect/iptables-rules.ts';
import { resolveRedirectorOptions } from '../../../agent/redirect/redirector.ts';
import { SAVED_EMPTY, SAVED_TWO } from './fixtures.ts';

const opts = resolveRedirectorOptions({ excludeOutboundPorts: [22] });
const a = { key: 'default/a', ip: '10.244.1.11' };
const b = { key: 'default/b', ip: '10.244.1.12' };
const c = { key: 'default/c', ip: '10.244.1.13' };
const none = { set: [], remove: [], prune: false, refreshBase: false };

t.test('parses what iptables-save prints', async (t) => {
  const s = parseMangle(SAVED_TWO);
  t.equal(s.chains.size, 6);
  t.equal(s.jumps.length, 1);
  t.same([...s.workloads.keys()], ['default/a', 'default/b']);
  t.same(s.workloads.get('default/a')!.map((r) => [r.chain, r.ip]), [['WEFT-IN', '10.244.1.11'], ['WEFT-OUT', '10.244.1.11']]);
  const other = '*filter\n:WEFT-OUT - [0:0]\n-A WEFT-OUT -s 1.1.1.1/32 -m comment --comment weft:x -j ACCEPT\nCOMMIT\n*mangle\n-A WEFT-OUT -s 1.2.3.4/32 -m comment --comment weft:plain -j X\n-A WEFT-OUT -s 1.2.3.5/32 -m comment --comment other -j X\nCOMMIT\n';
  const o = parseMangle(other);
  t.same([...o.workloads.keys()], ['plain'], 'other tables and foreign comments are ignored; unquoted comments parse');
  t.equal(o.chains.size, 0);
});

t.test('first install: chains, fixed rules, jump and the workload in one batch', async (t) => {
  const doc = planChange(parseMangle(SAVED_EMPTY), opts, { ...none, set: [a] });
  t.equal(doc, [
    '*mangle',
    ':WEFT-OUT - [0:0]',
    ':WEFT-IN - [0:0]',
    ':WEFT-DIVERT - [0:0]',
    ':WEFT-TPROXY-OUT - [0:0]',
    ':WEFT-TPROXY-IN - [0:0]',
    ':WEFT-PREROUTING - [0:0]',
    '-A WEFT-DIVERT -j MARK --set-mark 0x539/0x539',
    '-A WEFT-DIVERT -j ACCEPT',
    '-A WEFT-TPROXY-OUT -p tcp -m multiport --dports 22 -j RETURN',
    '-A WEFT-TPROXY-OUT -p tcp -j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x539/0x539',
    '-A WEFT-TPROXY-IN -p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0x539',
    '-A WEFT-PREROUTING -m addrtype --dst-type LOCAL -j RETURN',
    '-A WEFT-PREROUTING -p tcp -m socket --transparent -j WEFT-DIVERT',
    '-A WEFT-PREROUTING -m conntrack --ctdir REPLY -j RETURN',
    '-A WEFT-PREROUTING -p tcp -j WEFT-OUT',
    '-A WEFT-PREROUTING -p tcp -j WEFT-IN',
    '-I PREROUTING 1 -m comment --comment weft-redirect -j WEFT-PREROUTING',
    '-A WEFT-OUT -s 10.244.1.11/32 -p tcp -m comment --comment "weft:default/a" -j WEFT-TPROXY-OUT',
    '-A WEFT-IN -d 10.244.1.11/32 ! -s 10.244.1.11/32 -p tcp -m comment --comment "weft:default/a" -j WEFT-TPROXY-IN',
    'COMMIT',
    '',
  ].join('\n'));
});

t.test('install of an already captured workload changes nothing', async (t) => {
  t.equal(planChange(parseMangle(SAVED_TWO), opts, { ...none, set: [a] }), undefined);
});

t.test('install with a new IP replaces the old rules atomically, without touching the base', async (t) => {
  const doc = planChange(parseMangle(SAVED_TWO), opts, { ...none, set: [{ key: 'default/a', ip: '10.244.1.99' }] })!;
  const lines = doc.split('\n');
  t.same(lines.filter((l) => l.startsWith('-D')), [
    '-D WEFT-IN ! -s 10.244.1.11/32 -d 10.244.1.11/32 -p tcp -m comment --comment "weft:default/a" -j WEFT-TPROXY-IN',
    '-D WEFT-OUT -s 10.244.1.11/32 -p tcp -m comment --comment "weft:default/a" -j WEFT-TPROXY-OUT',
  ]);
  t.same(lines.filter((l) => l.startsWith('-A')), workloadRules({ key: 'default/a', ip: '10.244.1.99' }));
  t.notOk(lines.some((l) => l.startsWith(':')), 'no chain is (re)declared, so none is flushed');
});

t.test('remove deletes exactly that workload\'s lines; removing an unknown key is a no-op', async (t) => {
  const doc = planChange(parseMangle(SAVED_TWO), opts, { ...none, remove: ['default/b'] })!;
  t.same(doc.split('\n').slice(1, -2), [
    '-D WEFT-IN ! -s 10.244.1.12/32 -d 10.244.1.12/32 -p tcp -m comment --comment "weft:default/b" -j WEFT-TPROXY-IN',
    '-D WEFT-OUT -s 10.244.1.12/32 -p tcp -m comment --comment "weft:default/b" -j WEFT-TPROXY-OUT',
  ]);
  t.equal(planChange(parseMangle(SAVED_TWO), opts, { ...none, remove: ['nope'] }), undefined);
  t.equal(planChange(parseMangle(SAVED_EMPTY), opts, { ...none, remove: ['nope'] }), undefined, 'nothing installed: nothing to do');
});

t.test('reconcile refreshes the fixed chains, keeps matching workloads, drops stale ones, adds missing', async (t) => {
  const withOrphan = SAVED_TWO.replace('COMMIT', '-A WEFT-OUT -s 10.244.1.50/32 -p tcp -m comment --comment "weft:half" -j WEFT-TPROXY-OUT\nCOMMIT');
  const doc = planChange(parseMangle(withOrphan), resolveRedirectorOptions({ outboundPort: 16001 }), { set: [a, c], remove: [], prune: true, refreshBase: true })!;
  const lines = doc.split('\n');
  t.same(lines.filter((l) => l.startsWith(':')), [':WEFT-DIVERT - [0:0]', ':WEFT-TPROXY-OUT - [0:0]', ':WEFT-TPROXY-IN - [0:0]', ':WEFT-PREROUTING - [0:0]'],
    'workload chains are not redeclared (that would flush them)');
  t.ok(lines.includes('-A WEFT-TPROXY-OUT -p tcp -j TPROXY --on-port 16001 --on-ip 0.0.0.0 --tproxy-mark 0x539/0x539'), 'new options take effect');
  t.notOk(lines.some((l) => l.includes('--dports 22')), 'dropped exclusion is gone');
  t.notOk(lines.some((l) => l.startsWith('-I PREROUTING')), 'existing jump adopted');
  const deleted = lines.filter((l) => l.startsWith('-D')).map((l) => /weft:([^"]+)/.exec(l)![1]).sort();
  t.same(deleted, ['default/b', 'default/b', 'half'], 'stale and half-installed workloads removed');
  t.same(lines.filter((l) => l.startsWith('-A WEFT-OUT') || l.startsWith('-A WEFT-IN')), workloadRules(c), 'only the missing workload added');
});

t.test('duplicate jumps are collapsed to one', async (t) => {
  const twice = SAVED_TWO.replace('-A PREROUTING -m comment', '-A PREROUTING -j WEFT-PREROUTING\n-A PREROUTING -m comment');
  const doc = planChange(parseMangle(twice), opts, { ...none, set: [a] })!;
  t.same(doc.split('\n').slice(1, -2), ['-D PREROUTING -m comment --comment weft-redirect -j WEFT-PREROUTING']);
});

t.test('many excluded ports are split into multiport groups of 15', async (t) => {
  const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
  const doc = planChange(parseMangle(SAVED_EMPTY), resolveRedirectorOptions({ excludeOutboundPorts: ports }), { ...none, set: [a] })!;
  const groups = doc.split('\n').filter((l) => l.includes('--dports')).map((l) => /--dports (\S+)/.exec(l)![1].split(',').length);
  t.same(groups, [15, 5]);
});

t.test('uninstall removes the jump, then flushes and deletes every chain', async (t) => {
  t.same(planUninstall(parseMangle(SAVED_TWO))!.split('\n'), [
    '*mangle',
    '-D PREROUTING -m comment --comment weft-redirect -j WEFT-PREROUTING',
    '-F WEFT-OUT', '-F WEFT-IN', '-F WEFT-DIVERT', '-F WEFT-TPROXY-OUT', '-F WEFT-TPROXY-IN', '-F WEFT-PREROUTING',
    '-X WEFT-OUT', '-X WEFT-IN', '-X WEFT-DIVERT', '-X WEFT-TPROXY-OUT', '-X WEFT-TPROXY-IN', '-X WEFT-PREROUTING',
    'COMMIT', '',
  ]);
  t.equal(planUninstall(parseMangle(SAVED_EMPTY)), undefined);
});
