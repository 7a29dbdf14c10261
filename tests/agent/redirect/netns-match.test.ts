// Matching namespaces to meshed pods by IP, table-tested.
import t from 'tap';
import { matchNetns, rankPaths } from '../../../agent/redirect/netns-match.ts';

const a = { key: 'default/a', ip: '10.0.0.1' };
const b = { key: 'default/b', ip: '10.0.0.2' };
const c = { key: 'default/c', ip: '10.0.0.3' };

const rows = [
  {
    name: 'each pod in its own namespace',
    candidates: [
      { inode: 11, paths: ['/run/netns/x'], ips: ['10.0.0.1'] },
      { inode: 12, paths: ['/proc/7/ns/net'], ips: ['10.0.0.2', '10.9.9.9'] },
      { inode: 13, paths: ['/run/netns/other'], ips: ['10.0.0.77'] },
    ],
    workloads: [b, a],
    want: {
      pods: [
        { inode: 11, path: '/run/netns/x', key: 'default/a', ip: '10.0.0.1' },
        { inode: 12, path: '/proc/7/ns/net', key: 'default/b', ip: '10.0.0.2' },
      ],
      missing: [], ambiguous: [],
    },
  },
  {
    name: 'a pod not started yet is missing, not guessed',
    candidates: [{ inode: 11, paths: ['/run/netns/x'], ips: ['10.0.0.1'] }],
    workloads: [a, c],
    want: { pods: [{ inode: 11, path: '/run/netns/x', key: 'default/a', ip: '10.0.0.1' }], missing: ['default/c'], ambiguous: [] },
  },
  {
    name: 'one address in two namespaces: neither captured',
    candidates: [
      { inode: 11, paths: ['/run/netns/x'], ips: ['10.0.0.1'] },
      { inode: 12, paths: ['/run/netns/y'], ips: ['10.0.0.1'] },
    ],
    workloads: [a],
    want: { pods: [], missing: [], ambiguous: ['default/a'] },
  },
  {
    name: 'two workloads in one namespace: the first by key only (one capture per namespace)',
    candidates: [{ inode: 11, paths: ['/run/netns/x'], ips: ['10.0.0.1', '10.0.0.2'] }],
    workloads: [b, a],
    want: { pods: [{ inode: 11, path: '/run/netns/x', key: 'default/a', ip: '10.0.0.1' }], missing: [], ambiguous: ['default/b'] },
  },
  {
    name: 'a pod known only from its CNI ADD keeps the record it is captured under',
    candidates: [{ inode: 11, paths: ['/var/run/netns/cni-1'], ips: ['10.0.0.1'] }],
    workloads: [{ ...a, early: { kind: 'workload' as const, key: 'default/a', uid: 'u', name: 'a', namespace: 'default', node: 'n1', ip: '10.0.0.1', serviceAccount: 'sa', identity: 'spiffe://td/ns/default/sa/sa', labels: {}, meshed: true, ready: false } }],
    want: { pods: [{ inode: 11, path: '/var/run/netns/cni-1', key: 'default/a', ip: '10.0.0.1', early: { kind: 'workload' as const, key: 'default/a', uid: 'u', name: 'a', namespace: 'default', node: 'n1', ip: '10.0.0.1', serviceAccount: 'sa', identity: 'spiffe://td/ns/default/sa/sa', labels: {}, meshed: true, ready: false } }], missing: [], ambiguous: [] },
  },
  {
    name: 'a namespace with no path left is not usable',
    candidates: [{ inode: 11, paths: [], ips: ['10.0.0.1'] }],
    workloads: [a],
    want: { pods: [], missing: ['default/a'], ambiguous: [] },
  },
];

for (const r of rows) {
  t.test(r.name, async (t) => {
    t.same(matchNetns(r.candidates, r.workloads), r.want);
  });
}

t.test('named paths before /proc ones, duplicates dropped', async (t) => {
  t.same(rankPaths(['/proc/9/ns/net', '/run/netns/b', '/proc/10/ns/net', '/run/netns/a', '/run/netns/a']), ['/run/netns/a', '/run/netns/b', '/proc/10/ns/net', '/proc/9/ns/net']);
});
