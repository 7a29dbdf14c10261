// `weft check`'s kernel feature rows (agent/cli/kernel-modules.ts): a table over what each source
// can say, then the real check on this machine, whose kernel has no module support at all
// (CONFIG_MODULES unset: no /proc/modules) and TPROXY built in — where the old check warned
// "not loaded" for features the kernel has. That oracle reads the kernel config with zcat and
// grep, not with the code under test.
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { featureCheck, featureState, TPROXY_FEATURES, type KernelSources } from '../../../agent/cli/kernel-modules.ts';

const [TPROXY, SOCKET, NF] = TPROXY_FEATURES;
const none: KernelSources = { procModules: null, modulesBuiltin: null, kernelConfig: null, xtTargets: null, xtMatches: null, sysModules: new Set() };

t.test('every source is weighed, in order', async (t) => {
  const cases: Array<[string, typeof TPROXY, Partial<KernelSources>, string]> = [
    ['loaded module', TPROXY, { procModules: 'nf_conntrack 1 0 - Live\nxt_TPROXY 16384 1 - Live 0x0\n' }, 'loaded'],
    ['a module whose name only starts the same is not it', SOCKET, { procModules: 'xt_socket_extra 1 0 - Live\n' }, 'unknown'],
    ['modules.builtin', TPROXY, { procModules: '', modulesBuiltin: 'kernel/net/netfilter/xt_TPROXY.ko\n' }, 'builtin'],
    ['kernel config =y, no /proc/modules (no module support)', NF, { kernelConfig: '# CONFIG_MODULES is not set\nCONFIG_NF_TPROXY_IPV4=y\n' }, 'builtin'],
    ['kernel config =m, not loaded', TPROXY, { procModules: '', kernelConfig: 'CONFIG_NETFILTER_XT_TARGET_TPROXY=m\n' }, 'module'],
    ['kernel config says not set', SOCKET, { procModules: '', kernelConfig: '# CONFIG_NETFILTER_XT_MATCH_SOCKET is not set\n' }, 'absent'],
    ['kernel config without the symbol', SOCKET, { kernelConfig: 'CONFIG_NETFILTER=y\n' }, 'absent'],
    ['an xtables target registered (no config to read)', TPROXY, { procModules: '', xtTargets: 'MARK\nTPROXY\nTPROXY\n' }, 'builtin'],
    ['an xtables match registered', SOCKET, { xtMatches: 'mark\nsocket\n' }, 'builtin'],
    ['a target list without it', TPROXY, { procModules: '', xtTargets: 'MARK\n' }, 'unknown'],
    ['/sys/module of a built-in with a parameter', NF, { procModules: '', sysModules: new Set(['nf_tproxy_ipv4']) }, 'builtin'],
    ['nothing to tell', TPROXY, { procModules: '' }, 'unknown'],
  ];
  for (const [name, f, src, want] of cases) t.equal(featureState(f, { ...none, ...src }).state, want, name);
});

t.test('only a kernel that lacks the feature, or an unknown, is a warning', async (t) => {
  for (const [state, status] of [['loaded', 'ok'], ['builtin', 'ok'], ['module', 'ok'], ['absent', 'warn'], ['unknown', 'warn']] as const) {
    const c = featureCheck(TPROXY, { state, evidence: 'x' });
    t.equal(c.status, status, `${state} → ${status}`);
    if (state === 'loaded' || state === 'builtin') t.notMatch(c.detail, /not loaded/, `${state}: ${c.detail}`);
  }
  t.match(featureCheck(TPROXY, { state: 'absent', evidence: 'x' }).detail, /CONFIG_NETFILTER_XT_TARGET_TPROXY/, 'absent names the config symbol');
});

const sh = (cmd: string): Promise<string> => new Promise((resolve) => execFile('sh', ['-c', cmd], (_e, out) => resolve(out)));
const WEFT = fileURLToPath(new URL('../../../dist/weft.mjs', import.meta.url));

t.test('on this machine: `weft check --pre` agrees with the kernel config', async (t) => {
  const config = await sh('zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null');
  if (config === '') {
    t.pass('no kernel config readable here: nothing to compare with');
    return;
  }
  const out = await new Promise<string>((resolve) => execFile(process.execPath, [WEFT, '-o', 'json', 'check', '--pre'], (_e, o) => resolve(o)));
  const checks = (JSON.parse(out) as { checks: Array<{ name: string; status: string; detail: string }> }).checks;
  for (const [module, symbol] of [['xt_TPROXY', 'CONFIG_NETFILTER_XT_TARGET_TPROXY'], ['xt_socket', 'CONFIG_NETFILTER_XT_MATCH_SOCKET'], ['nf_tproxy_ipv4', 'CONFIG_NF_TPROXY_IPV4']]) {
    const row = checks.find((c) => c.name === module);
    const builtin = new RegExp(`^${symbol}=y$`, 'm').test(config);
    if (builtin) {
      t.equal(row?.status, 'ok', `${module} is built in (${symbol}=y): ok`);
      t.notMatch(row?.detail, /not loaded/, `${module}: not called "not loaded" (${row?.detail})`);
    } else {
      t.ok(row !== undefined, `${module}: reported (${row?.status} ${row?.detail})`);
    }
  }
});
