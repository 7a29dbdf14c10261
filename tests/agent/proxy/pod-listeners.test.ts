// A worker's pod listeners on a real namespace (named after this test): opened inside the pod,
// handed the pod's origin, kept across syncs, closed when the pod goes; a pod whose namespace
// cannot be entered is reported, not thrown. Oracles: ss inside the namespace, real connections.
import t from 'tap';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PodDirectory, PodListeners, type PodListenSpec } from '../../../agent/proxy/pod-listeners.ts';
import type { CaptureOrigin } from '../../../agent/proxy/capture-origin.ts';
import { netnsInode, netnsSocket } from '../../../agent/native/index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const isRoot = process.getuid?.() === 0;
const NS = `weft-t-pod-listeners-${process.pid}`;
const PATH = `/run/netns/${NS}`;
const sh = (args: string[]): string => execFileSync(args[0], args.slice(1), { encoding: 'utf8' });
const spec: PodListenSpec = { outboundHost: '127.0.0.1', inboundHost: '0.0.0.0', outboundPort: 15001, inboundPort: 15006, transparent: false, originalDestination: 'local-address' };

t.test('pod listeners', { skip: !isRoot && 'needs root' }, async (t) => {
  try { sh(['ip', 'netns', 'del', NS]); } catch { /* none left */ }
  sh(['ip', 'netns', 'add', NS]);
  t.teardown(() => { try { sh(['ip', 'netns', 'del', NS]); } catch { /* gone */ } });
  sh(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
  const seen: string[] = [];
  const record = (dir: string) => (s: net.Socket, origin?: CaptureOrigin): void => {
    seen.push(`${dir} ${origin?.podKey} ${JSON.stringify(origin?.original(s))}`);
    s.on('error', () => {});
    s.end();
  };
  const directory = new PodDirectory(0x539);
  const pods = new PodListeners({ outbound: record('out'), inbound: record('in') }, () => undefined, directory);
  const pod = { inode: netnsInode(PATH), path: PATH, key: 'demo/a', ip: '10.9.9.9' };
  const listeners = (): string => sh(['ip', 'netns', 'exec', NS, 'ss', '-ltnH']);

  t.same(await pods.sync([pod], spec), []);
  t.match(listeners(), /127\.0\.0\.1:15001\b/);
  t.match(listeners(), /(0\.0\.0\.0|\*):15006\b/);
  t.equal(directory.netnsFor('10.9.9.9'), PATH, 'deliveries to the pod leave from inside it');

  for (const port of [15001, 15006]) {
    await new Promise<void>((resolve, reject) => {
      const c = netnsSocket(PATH, 0);
      c.on('error', reject);
      c.on('close', () => resolve());
      c.connect(port, '127.0.0.1');
      c.resume();
    });
  }
  t.same(seen, ['out demo/a {"ip":"127.0.0.1","port":15001}', 'in demo/a {"ip":"127.0.0.1","port":15006}'], 'each listener hands its pod to the handler');

  const renamed = { ...pod, path: `/proc/${process.pid}/fd/../../../run/netns/${NS}` };
  t.same(await pods.sync([renamed], spec), []);
  t.equal((listeners().match(/:15001\b/g) ?? []).length, 1, 'a second sync keeps the listeners (not opened twice)');
  t.equal(directory.netnsFor('10.9.9.9'), renamed.path, 'and takes the newest path');

  const gone = { inode: 1, path: `/run/netns/${NS}-gone`, key: 'demo/b', ip: '10.9.9.10' };
  const failed = await pods.sync([pod, gone], spec);
  t.equal(failed.length, 1);
  t.match(failed[0], { inode: 1, message: /WEFT_ERR_NETNS_UNAVAILABLE/ });
  t.equal(pods.size, 1);

  t.same(await pods.sync([], spec), []);
  await new Promise((r) => setTimeout(r, 100));
  t.notMatch(listeners(), /:1500[16]\b/, 'a pod gone: its listeners closed');
  t.equal(directory.netnsFor('10.9.9.9'), undefined);
});
