// pipeBoth between two plain TCP connections: half-close each way, resets, byte counts.
import t from 'tap';
import net from 'node:net';
import { pipeBoth, type SpliceResult } from '../../../agent/proxy/tcp.ts';

interface Rig { client: net.Socket; far: net.Socket; done: Promise<SpliceResult> }

/** client ⇄ [proxy: near ⇄ upstream] ⇄ far, all on loopback. */
async function rig(t: { teardown(fn: () => Promise<void>): void }): Promise<Rig> {
  const all = new Set<net.Socket>();
  const track = (s: net.Socket): net.Socket => { all.add(s); s.on('error', () => {}); return s; };
  let farResolve!: (s: net.Socket) => void;
  const farP = new Promise<net.Socket>((r) => { farResolve = r; });
  const farServer = net.createServer({ allowHalfOpen: true }, (s) => farResolve(track(s)));
  await new Promise<void>((r) => farServer.listen(0, '127.0.0.3', r));
  let doneResolve!: (r: SpliceResult) => void;
  const done = new Promise<SpliceResult>((r) => { doneResolve = r; });
  const proxy = net.createServer({ allowHalfOpen: true }, (near) => {
    track(near);
    const up = track(net.connect({ host: '127.0.0.3', port: (farServer.address() as net.AddressInfo).port, allowHalfOpen: true }));
    up.once('connect', () => pipeBoth(near, up, doneResolve));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const client = track(net.connect({ host: '127.0.0.1', port: (proxy.address() as net.AddressInfo).port, allowHalfOpen: true }));
  const far = await farP;
  t.teardown(async () => {
    for (const s of all) s.destroy();
    await Promise.all([proxy, farServer].map((s) => new Promise((r) => s.close(r))));
  });
  return { client, far, done };
}

function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.on('data', (c: Buffer) => { got += c.toString(); });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

t.test('half-close: the client finishes sending and still gets the answer; counts both ways', async (t) => {
  const { client, far, done } = await rig(t);
  const farGot = readAll(far);
  const clientGot = readAll(client);
  client.end('request');
  t.equal(await farGot, 'request');
  far.end('response after the request ended');
  t.equal(await clientGot, 'response after the request ended');
  const r = await done;
  t.same(r, { bytesOut: 7, bytesIn: 32, error: undefined });
});

t.test('half-close the other way: the far side ends first, the client keeps sending', async (t) => {
  const { client, far, done } = await rig(t);
  const clientGot = readAll(client);
  const farGot = readAll(far);
  far.end('bye');
  t.equal(await clientGot, 'bye');
  client.end('late data');
  t.equal(await farGot, 'late data');
  t.equal((await done).error, undefined);
});

t.test('a reset on one side is a reset on the other, both ways', async (t) => {
  for (const dir of ['client resets', 'far resets'] as const) {
    const { client, far, done } = await rig(t);
    const [resetter, victim] = dir === 'client resets' ? [client, far] : [far, client];
    const seen = new Promise<string>((resolve) => {
      victim.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      victim.on('end', () => resolve('end'));
    });
    resetter.write('x');
    await new Promise((r) => setTimeout(r, 20));
    resetter.resetAndDestroy();
    t.equal(await seen, 'ECONNRESET', dir);
    t.ok((await done).error, 'the splice reports the abort');
  }
});
