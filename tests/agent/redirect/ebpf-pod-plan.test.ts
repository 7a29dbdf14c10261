// Unit tier: the pod-scope eBPF capture's pure half (agent/redirect/ebpf-pod-plan.ts). Expected
// commands are written out by hand from tc(8)/ip-rule(8) and struct weft_pod_config's layout.
import t from 'tap';
import {
  marksProblem, parsePodState, planAttachments, planDetachDevice, planFilter, planPodMapLines, planRouting, podConfigHex, podDevices, podPinInode, podPinName,
  type HookNow,
} from '../../../agent/redirect/ebpf-pod-plan.ts';
import { podStats } from '../../../agent/redirect/ebpf-pod-capture.ts';

const CONFIG = { outboundPort: 15001, inboundPort: 15006, hbonePort: 15008, agentMark: 0x539, captureMark: 0x53a };

t.test('config value: eight u32 in host order (little endian here), lo is ifindex 1', async (t) => {
  t.equal(podConfigHex(CONFIG), '99 3a 00 00 9e 3a 00 00 a0 3a 00 00 39 05 00 00 3a 05 00 00 01 00 00 00 00 00 00 00 00 00 00 00');
});

t.test('map lines are the difference between what the maps hold and what they should', async (t) => {
  const cases: Array<{ name: string; cur: { excluded: number[]; direct: number[]; exempt?: string[] }; want: { excluded: number[]; direct: number[]; exempt?: string[] }; lines: string[] }> = [
    {
      name: 'fresh maps',
      cur: { excluded: [], direct: [] },
      want: { excluded: [5432], direct: [15008] },
      lines: [
        'map update pinned /m/weft_pod_excluded key hex 38 15 00 00 value hex 01 00 00 00',
        'map update pinned /m/weft_pod_direct key hex a0 3a 00 00 value hex 01 00 00 00',
      ],
    },
    { name: 'already right (adopted after a restart)', cur: { excluded: [5432], direct: [15008] }, want: { excluded: [5432], direct: [15008] }, lines: [] },
    {
      name: 'an excluded port removed, another added',
      cur: { excluded: [22, 5432], direct: [15008] },
      want: { excluded: [5432, 3306], direct: [15008] },
      lines: [
        'map update pinned /m/weft_pod_excluded key hex ea 0c 00 00 value hex 01 00 00 00',
        'map delete pinned /m/weft_pod_excluded key hex 16 00 00 00',
      ],
    },
    {
      // Keys are the address bytes in network order (172.31.0.12 = ac 1f 00 0c), whatever the host's order.
      name: 'node addresses exempt from inbound capture: added and removed as the node changes',
      cur: { excluded: [], direct: [15008], exempt: ['10.244.2.1', '172.31.0.9'] },
      want: { excluded: [], direct: [15008], exempt: ['172.31.0.12', '10.244.2.1'] },
      lines: [
        'map update pinned /m/weft_pod_exempt_src key hex ac 1f 00 0c value hex 01 00 00 00',
        'map delete pinned /m/weft_pod_exempt_src key hex ac 1f 00 09',
      ],
    },
  ];
  for (const c of cases) {
    const lines = planPodMapLines('/m', c.cur, { config: CONFIG, ...c.want });
    t.equal(lines[0], `map update pinned /m/weft_pod_config key hex 00 00 00 00 value hex ${podConfigHex(CONFIG)}`, `${c.name}: config always written`);
    t.same(lines.slice(1), c.lines, c.name);
  }
});

t.test('pin names carry the pod, a hash of its key and its namespace inode', async (t) => {
  const n = podPinName('default/a1', 4026532881);
  t.match(n, /^default_a1-[0-9a-f]{6}-4026532881$/);
  t.equal(podPinInode(n), 4026532881);
  t.not(podPinName('default/a1', 1), podPinName('default_a1', 1), 'keys that read the same once made safe stay apart');
  t.match(podPinName('Prod/Web.API-0', 7), /^prod_web.api-0-[0-9a-f]{6}-7$/);
  t.equal(podPinInode('maps'), undefined, 'names we did not make are not pods');
  t.equal(podPinInode('abc-123'), undefined);
});

t.test('hooks: each interface holding the pod address both ways, lo in', async (t) => {
  t.same(planAttachments(['eth0']), [
    { dev: 'eth0', hook: 'egress', role: 'egress' },
    { dev: 'eth0', hook: 'ingress', role: 'ingress' },
    { dev: 'lo', hook: 'ingress', role: 'lo' },
  ]);
  t.same(planAttachments(['net1', 'eth0', 'eth0']).map((a) => `${a.dev} ${a.hook}`), ['eth0 egress', 'eth0 ingress', 'net1 egress', 'net1 ingress', 'lo ingress']);
  t.same(planAttachments([]), [], 'no interface, nothing (not even lo)');
  const addrs = '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1"}]},{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.244.1.11"},{"family":"inet6","local":"fe80::1"}]},{"ifname":"eth1","addr_info":[{"family":"inet6","local":"fd00::2"}]}]';
  t.same(podDevices(addrs), { devs: ['eth0'], ips: ['10.244.1.11'] }, 'IPv6-only interfaces and lo are left out');
});

const none: HookNow = { ours: [], others: 0, clsact: false };
const A = { dev: 'eth0', hook: 'egress' as const, role: 'egress' as const };

t.test('tc filter plans', async (t) => {
  t.same(planFilter(A, none, 42, '/p/egress', 1337), [
    ['qdisc', 'replace', 'dev', 'eth0', 'clsact'],
    ['filter', 'replace', 'dev', 'eth0', 'egress', 'pref', '1337', 'handle', '1', 'bpf', 'da', 'object-pinned', '/p/egress'],
  ], 'first attach adds clsact and the filter');
  t.same(planFilter(A, { ours: [{ pref: 1337, handle: '0x1', progId: 42, progName: 'weft_pod_out' }], others: 0, clsact: true }, 42, '/p/egress', 1337), [], 'already running that program: nothing');
  t.same(planFilter(A, { ours: [{ pref: 1337, handle: '0x1', progId: 41, progName: 'weft_pod_out' }], others: 2, clsact: true }, 42, '/p/egress', 1337), [
    ['filter', 'replace', 'dev', 'eth0', 'egress', 'pref', '1337', 'handle', '1', 'bpf', 'da', 'object-pinned', '/p/egress'],
  ], 'an older version is replaced in place; other tools\' filters stay');
  t.same(planFilter(A, { ours: [{ pref: 9, handle: '0x1', progId: 41, progName: 'weft_pod_out' }], others: 0, clsact: true }, 42, '/p/egress', 1337), [
    ['filter', 'del', 'dev', 'eth0', 'egress', 'pref', '9'],
    ['filter', 'replace', 'dev', 'eth0', 'egress', 'pref', '1337', 'handle', '1', 'bpf', 'da', 'object-pinned', '/p/egress'],
  ], 'a stray of ours at another preference goes');
});

t.test('detaching a device', async (t) => {
  const ours = (pref: number): HookNow => ({ ours: [{ pref, handle: '0x1', progId: 1, progName: 'weft_pod_in' }], others: 0, clsact: true });
  t.same(planDetachDevice('eth0', { ingress: ours(1337), egress: ours(1337) }), [
    ['filter', 'del', 'dev', 'eth0', 'ingress', 'pref', '1337'],
    ['filter', 'del', 'dev', 'eth0', 'egress', 'pref', '1337'],
    ['qdisc', 'del', 'dev', 'eth0', 'clsact'],
  ], 'ours only: clsact goes too');
  t.same(planDetachDevice('eth0', { ingress: ours(1337), egress: { ours: [], others: 1, clsact: true } }), [
    ['filter', 'del', 'dev', 'eth0', 'ingress', 'pref', '1337'],
  ], 'another tool\'s filter keeps clsact');
  t.same(planDetachDevice('eth0', { ingress: { ...none, clsact: true }, egress: { ...none, clsact: true } }), [], 'a clsact we did not fill is not ours to remove');
  t.same(planDetachDevice('eth0', { ingress: none, egress: none }), []);
});

t.test('routing inside the pod namespace', async (t) => {
  const want = { captureMark: 0x53a, routeTable: 133, priority: 1337 };
  const ourRule = { priority: 1337, fwmark: '0x53a', table: '133' };
  t.same(planRouting('ensure', [{ priority: 0, table: 'local' }, { priority: 32766, table: 'main' }], 0, want), [
    ['rule', 'add', 'priority', '1337', 'fwmark', '0x53a/0xffffffff', 'lookup', '133'],
    ['route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '133'],
  ]);
  t.same(planRouting('ensure', [ourRule], 1, want), [], 'in place: nothing');
  t.same(planRouting('ensure', [{ priority: 100, fwmark: '0x53a', table: '133' }, ourRule], 1, want), [
    ['rule', 'del', 'priority', '100', 'fwmark', '0x53a/0xffffffff', 'lookup', '133'],
  ], 'a duplicate at another priority goes');
  t.same(planRouting('ensure', [{ priority: 1337, fwmark: '0x539', table: '133' }], 1, want), [
    ['rule', 'add', 'priority', '1337', 'fwmark', '0x53a/0xffffffff', 'lookup', '133'],
  ], 'a rule for another mark is not ours');
  t.same(planRouting('remove', [ourRule], 1, want), [
    ['rule', 'del', 'priority', '1337', 'fwmark', '0x53a/0xffffffff', 'lookup', '133'],
    ['route', 'flush', 'table', '133'],
  ]);
  t.same(planRouting('remove', [], 0, want), [], 'removing twice: nothing');
});

t.test('marks', async (t) => {
  t.equal(marksProblem(0x539, 0x53a), undefined);
  t.match(marksProblem(0x539, 0x539) ?? '', /includes every bit of the agent mark/);
  t.match(marksProblem(0x539, 0x1539) ?? '', /includes every bit/, 'a superset would pass the egress program as the agent\'s');
  t.match(marksProblem(0x539, 0) ?? '', /not a 32-bit mark/);
});

t.test('decision counters by name', async (t) => {
  const dump = JSON.stringify([
    { key: ['0x0a', '0x00', '0x00', '0x00'], value: ['0x02', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00'] },
    { key: ['0x05', '0x00', '0x00', '0x00'], value: ['0x03', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00'] },
  ]);
  // enum weft_pod_reason: 10 = WEFT_POD_OUTBOUND, 5 = WEFT_POD_REDIRECT_SYN.
  t.same(podStats(dump), { outbound: 2, redirect_syn: 3 });
});

t.test('the pod namespace state, read in one run', async (t) => {
  const text = [
    '@@addr',
    '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1"}]},{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.244.1.11"}]}]',
    '@@rules',
    '[{"priority":0,"src":"all","table":"local"},{"priority":1337,"src":"all","fwmark":"0x53a","table":"133"}]',
    '@@table',
    '[{"type":"local","dst":"default","dev":"lo"}]',
    '@@accept_local',
    '1',
    '@@ingress lo',
    '[{"protocol":"all","pref":1337,"kind":"bpf","chain":0},{"protocol":"all","pref":1337,"kind":"bpf","chain":0,"options":{"handle":"0x1","prog":{"id":9,"name":"weft_pod_lo"}}}]',
    '@@egress lo',
    '',
    '@@qdisc lo',
    'qdisc noqueue 0: root refcnt 2 ',
    'qdisc clsact ffff: parent ffff:fff1 ',
    '@@ingress eth0',
    '[]',
    '@@egress eth0',
    'Error: Cannot find device "eth0"',
    '@@qdisc eth0',
    'qdisc noqueue 0: root refcnt 2 ',
  ].join('\n');
  const s = parsePodState(text);
  t.same([s.devs, s.ips, s.tableRoutes, s.acceptLocal], [['eth0'], ['10.244.1.11'], 1, true]);
  t.same(s.rules.map((r) => r.priority), [0, 1337]);
  t.same(s.hooks.get('lo'), {
    ingress: { ours: [{ pref: 1337, handle: '0x1', progId: 9, progName: 'weft_pod_lo' }], others: 0, clsact: true },
    egress: { ours: [], others: 0, clsact: true },
  });
  t.same(s.hooks.get('eth0'), { ingress: { ours: [], others: 0, clsact: false }, egress: { ours: [], others: 0, clsact: false } }, 'an error text reads as nothing of ours');
  const empty = parsePodState('');
  t.same([empty.devs, empty.rules, empty.tableRoutes, empty.acceptLocal, empty.hooks.size], [[], [], 0, false, 0], 'a vanished namespace: nothing');
});
