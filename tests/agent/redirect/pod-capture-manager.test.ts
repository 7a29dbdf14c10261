// The pod registry's reconciler with a recording capture and listener sink (fakes: the order of
// steps is the behaviour under test here; the real capture and listeners have their own tests on
// real namespaces, and tests/e2e/inpod-*.test.ts runs them together).
import t from 'tap';
import { PodCaptureManager } from '../../../agent/redirect/pod-capture-manager.ts';
import type { PodCapture, PodNetns } from '../../../agent/redirect/pod-capture.ts';
import type { NetnsCandidate } from '../../../agent/redirect/netns-match.ts';
import { createLogger } from '../../../common/log.ts';

function harness() {
  const steps: string[] = [];
  let workloads = [{ key: 'default/a', ip: '10.0.0.1' }];
  let scanned: NetnsCandidate[] = [{ inode: 11, paths: ['/run/netns/a'], ips: ['10.0.0.1'] }];
  const failApply = new Set<number>();
  const failListen = new Map<number, string>();
  let scans = 0;
  const capture: PodCapture = {
    name: 'fake', originalDestination: 'so-original-dst', transparentListeners: false, outboundHost: '127.0.0.1', inboundHost: '0.0.0.0',
    async apply(p: PodNetns) { steps.push(`apply ${p.key}@${p.inode}`); if (failApply.has(p.inode)) throw new Error('no nat table'); },
    async remove(p: PodNetns) { steps.push(`remove ${p.key}@${p.inode}`); },
    async describe() { return {}; },
    async sweep(keep, seen) {
      const kept = new Set(keep.map((p) => p.inode));
      const stale = seen.filter((s) => !kept.has(s.inode));
      steps.push(`sweep keep [${[...kept].join(',')}] stale [${stale.map((s) => s.inode).join(',')}]`);
      return stale.length;
    },
  };
  const m = new PodCaptureManager({
    capture,
    listeners: { async sync(pods) { steps.push(`listen [${pods.map((p) => p.inode).join(',')}]`); return new Map(failListen); } },
    workloads: () => workloads,
    scan: async () => { scans++; return scanned; },
    log: createLogger('test').child('pods'),
    minScanIntervalMs: 0,
  });
  return {
    m, steps, failApply, failListen,
    scans: () => scans,
    setWorkloads: (w: typeof workloads) => { workloads = w; },
    setScanned: (s: NetnsCandidate[]) => { scanned = s; },
  };
}

t.test('a pod gained: listeners in every worker first, then the rules; a second reconcile changes nothing', async (t) => {
  const h = harness();
  await h.m.reconcile();
  t.same(h.steps, ['listen [11]', 'apply default/a@11']);
  t.ok(h.m.captured(11));
  h.steps.length = 0;
  await h.m.reconcile();
  t.same(h.steps, ['listen [11]'], 'no second apply: captured once');
  t.same(h.m.status().pods, [{ key: 'default/a', ip: '10.0.0.1', inode: 11, path: '/run/netns/a', state: 'captured' }]);
});

t.test('a pod lost: rules out first, then its listeners close', async (t) => {
  const h = harness();
  await h.m.reconcile();
  h.steps.length = 0;
  h.setWorkloads([]);
  await h.m.reconcile();
  t.same(h.steps, ['remove default/a@11', 'listen []']);
  t.notOk(h.m.captured(11));
});

t.test('a namespace replaced (new inode for the same pod): the old released, the new captured', async (t) => {
  const h = harness();
  await h.m.reconcile();
  h.steps.length = 0;
  h.setScanned([{ inode: 12, paths: ['/run/netns/a2'], ips: ['10.0.0.1'] }]);
  await h.m.reconcile({ rescan: true });
  t.same(h.steps, ['remove default/a@11', 'listen [12]', 'apply default/a@12']);
});

t.test('a CNI-reported pod and the same namespace found by a scan are one capture', async (t) => {
  const h = harness();
  h.m.learn({ inode: 11, path: '/var/run/netns/cni-1', key: 'default/a', ips: ['10.0.0.1'] });
  await h.m.reconcile({ rescan: true });
  t.same(h.steps, ['listen [11]', 'apply default/a@11']);
  t.equal(h.m.status().pods[0].path, '/var/run/netns/cni-1', 'the CNI path is preferred');
});

t.test('a model pod with no known namespace triggers a rescan', async (t) => {
  const h = harness();
  await h.m.reconcile();
  const before = h.scans();
  h.setWorkloads([{ key: 'default/a', ip: '10.0.0.1' }, { key: 'default/b', ip: '10.0.0.2' }]);
  h.setScanned([{ inode: 11, paths: ['/run/netns/a'], ips: ['10.0.0.1'] }, { inode: 13, paths: ['/run/netns/b'], ips: ['10.0.0.2'] }]);
  await h.m.reconcile();
  t.equal(h.scans(), before + 1);
  t.ok(h.m.captured(13));
});

t.test('failures: no rules without listeners, a failed apply leaves the pod failed and rule-free, and retries', async (t) => {
  const h = harness();
  h.failListen.set(11, 'EMFILE');
  await h.m.reconcile();
  t.same(h.steps, ['listen [11]'], 'no rules when a worker could not listen');
  t.match(h.m.failure(11), /EMFILE/);
  h.failListen.clear();
  h.failApply.add(11);
  h.steps.length = 0;
  await h.m.reconcile();
  t.same(h.steps, ['listen [11]', 'apply default/a@11', 'remove default/a@11']);
  t.equal(h.m.status().failed, 1);
  h.failApply.clear();
  h.steps.length = 0;
  await h.m.reconcile();
  t.same(h.steps, ['listen [11]', 'apply default/a@11']);
  t.equal(h.m.status().failed, 0);
  t.equal(h.m.status().captured, 1);
});

t.test('uninstall: every pod rule-free, every listener closed, and no capture afterwards', async (t) => {
  const h = harness();
  await h.m.reconcile();
  h.steps.length = 0;
  await h.m.uninstall();
  t.same(h.steps, ['remove default/a@11', 'listen []']);
  await h.m.reconcile();
  t.same(h.steps, ['remove default/a@11', 'listen []'], 'a reconcile after uninstall does nothing');
});

t.test('sweep: once, after the pods it wants are captured, over every other namespace the scan saw', async (t) => {
  const h = harness();
  h.setScanned([
    { inode: 11, paths: ['/run/netns/a'], ips: ['10.0.0.1'] },
    { inode: 12, paths: ['/run/netns/b'], ips: ['10.0.0.2'] }, // unmeshed while no agent ran
  ]);
  await h.m.reconcile();
  t.notOk(h.steps.some((s) => s.startsWith('sweep')), 'not without being asked (the model may not be complete)');
  h.steps.length = 0;
  await h.m.reconcile({ sweep: true });
  t.same(h.steps, ['listen [11]', 'sweep keep [11] stale [12]'], 'after the captured set is settled');
  h.steps.length = 0;
  await h.m.reconcile({ sweep: true });
  t.same(h.steps, ['listen [11]'], 'and only once');
});
