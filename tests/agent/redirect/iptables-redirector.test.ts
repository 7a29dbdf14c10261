// The redirector against an injected command runner: which commands run, in what order, and
// how failures surface. No root, no kernel.
import t from 'tap';
import { isWeftError } from '../../../common/errors.ts';
import { createRedirector, IptablesRedirector, redirectorNames, type CommandRunner } from '../../../agent/redirect/index.ts';
import { SAVED_EMPTY, SAVED_TWO } from './fixtures.ts';

interface Call { cmd: string; args: readonly string[]; input?: string }

function fakeRunner(initial: { save?: string; rules?: string; failRestore?: string } = {}) {
  const calls: Call[] = [];
  const state = { save: initial.save ?? SAVED_EMPTY, rules: initial.rules ?? '0:\tfrom all lookup local\n', failRestore: initial.failRestore };
  const exec: CommandRunner = async (cmd, args, input) => {
    calls.push({ cmd, args, input });
    await new Promise((r) => setImmediate(r)); // be asynchronous like a real process
    if (cmd === 'iptables-save') return { stdout: state.save, stderr: '', code: 0 };
    if (cmd === 'iptables-restore') {
      return state.failRestore ? { stdout: '', stderr: state.failRestore, code: 1 } : { stdout: '', stderr: '', code: 0 };
    }
    if (cmd === 'ip' && args.includes('rule') && args.includes('show')) return { stdout: state.rules, stderr: '', code: 0 };
    if (cmd === 'ip' && args.includes('rule') && args.includes('add')) { state.rules += '32765:\tfrom all fwmark 0x539/0x539 lookup 133\n'; return { stdout: '', stderr: '', code: 0 }; }
    if (cmd === 'ip' && args.includes('rule') && args.includes('del')) { state.rules = state.rules.replace(/.*fwmark.*\n/, ''); return { stdout: '', stderr: '', code: 0 }; }
    if (cmd === 'ip' && args.includes('flush')) return { stdout: '', stderr: 'Error: ipv4: FIB table does not exist.\n', code: 2 };
    return { stdout: '', stderr: '', code: 0 };
  };
  return { exec, calls, state };
}

const line = (c: Call) => [c.cmd, ...c.args].join(' ');

t.test('the registry knows iptables and refuses unknown names', async (t) => {
  t.ok(redirectorNames().includes('iptables'));
  t.equal(createRedirector('iptables', { exec: fakeRunner().exec }).name, 'iptables');
  t.throws(() => createRedirector('nope'), { code: 'WEFT_ERR_CONFIG_INVALID' });
  t.throws(() => createRedirector('iptables', { outboundPort: 70000, routeTable: 254 }), { code: 'WEFT_ERR_CONFIG_INVALID', message: /outboundPort 70000.*routeTable 254/ });
});

t.test('install: read, one restore batch, then policy routing', async (t) => {
  const f = fakeRunner();
  const r = new IptablesRedirector({ exec: f.exec });
  await r.install({ key: 'default/a', ip: '10.244.1.11' });
  t.same(f.calls.map(line), [
    'iptables-save -t mangle',
    'iptables-restore --noflush --wait',
    'ip -4 rule show',
    'ip -4 rule add fwmark 0x539/0x539 lookup 133',
    'ip -4 route replace local 0.0.0.0/0 dev lo table 133',
  ]);
  t.match(f.calls[1].input, /^\*mangle\n[\s\S]*weft:default\/a[\s\S]*\nCOMMIT\n$/);
});

t.test('an installed workload is not re-applied and the rule is not added twice', async (t) => {
  const f = fakeRunner({ save: SAVED_TWO, rules: '32765:\tfrom all fwmark 0x539/0x539 lookup 133\n' });
  await new IptablesRedirector({ exec: f.exec }).install({ key: 'default/b', ip: '10.244.1.12' });
  t.notOk(f.calls.some((c) => c.cmd === 'iptables-restore'));
  t.notOk(f.calls.some((c) => c.args.includes('add')));
});

t.test('a failing batch surfaces as WEFT_ERR_REDIRECT_FAILED with the stderr', async (t) => {
  const f = fakeRunner({ failRestore: 'iptables-restore: line 3 failed: No chain/target/match by that name.' });
  const r = new IptablesRedirector({ exec: f.exec });
  const err = await r.install({ key: 'a', ip: '10.244.1.11' }).catch((e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_REDIRECT_FAILED'));
  t.match((err as Error).message, /line 3 failed: No chain\/target\/match/);
  t.notOk(f.calls.some((c) => c.cmd === 'ip'), 'routing is not touched after a failed batch');
  // The queue survives a failure.
  f.state.failRestore = undefined;
  await r.install({ key: 'a', ip: '10.244.1.11' });
});

t.test('bad workloads are refused before any command runs', async (t) => {
  const f = fakeRunner();
  const r = new IptablesRedirector({ exec: f.exec });
  await t.rejects(r.install({ key: 'a b"', ip: '10.0.0.1' }), { code: 'WEFT_ERR_REDIRECT_FAILED', message: /not usable as an iptables comment/ });
  await t.rejects(r.install({ key: 'a', ip: 'fd00::1' }), { code: 'WEFT_ERR_REDIRECT_FAILED', message: /IPv6/ });
  await t.rejects(r.reconcile([{ key: 'a', ip: '10.0.0.1' }, { key: 'a', ip: '10.0.0.2' }]), { message: /twice/ });
  t.same(f.calls, []);
});

t.test('operations are serialised: each plans from the state the previous one left', async (t) => {
  const f = fakeRunner();
  const r = new IptablesRedirector({ exec: f.exec });
  await Promise.all([r.install({ key: 'a', ip: '10.244.1.11' }), r.remove({ key: 'b', ip: '10.244.1.12' }), r.describe()]);
  const saves = f.calls.map((c, i) => (c.cmd === 'iptables-save' ? i : -1)).filter((i) => i >= 0);
  const restore = f.calls.findIndex((c) => c.cmd === 'iptables-restore');
  t.ok(restore > saves[0] && restore < saves[1], 'the second read happens after the first batch');
});

t.test('uninstall: removal batch, every copy of the ip rule, table flush (absent table is fine)', async (t) => {
  const rule = '32765:\tfrom all fwmark 0x539/0x539 lookup 133\n';
  const f = fakeRunner({ save: SAVED_TWO, rules: rule + rule });
  await new IptablesRedirector({ exec: f.exec }).uninstall();
  t.match(f.calls[1].input, /^\*mangle\n-D PREROUTING .*\n(-F WEFT-[A-Z-]+\n){6}(-X WEFT-[A-Z-]+\n){6}COMMIT\n$/);
  t.equal(f.calls.filter((c) => c.args.includes('del')).length, 2);
  t.equal(f.calls.at(-1) && line(f.calls.at(-1)!), 'ip -4 route flush table 133');
  const g = fakeRunner();
  await new IptablesRedirector({ exec: g.exec }).uninstall();
  t.notOk(g.calls.some((c) => c.cmd === 'iptables-restore'), 'nothing installed: no batch');
});

t.test('describe reports what is installed', async (t) => {
  const f = fakeRunner({ save: SAVED_TWO });
  const d = await new IptablesRedirector({ exec: f.exec }).describe() as { workloads: unknown[]; chains: string[]; ipRule: boolean };
  t.same(d.workloads, [
    { key: 'default/a', ip: '10.244.1.11', outbound: true, inbound: true },
    { key: 'default/b', ip: '10.244.1.12', outbound: true, inbound: true },
  ]);
  t.equal(d.chains.length, 6);
  t.equal(d.ipRule, false);
});
