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

t.test('backpressure: while the far side does not read, the proxy stops reading; then every byte arrives in order', async (t) => {
  const { client, far, done } = await rig(t);
  far.pause();
  // 64 MiB cannot fit in the kernel's socket buffers on both hops: if the proxy kept reading
  // without writing room, it would buffer the rest in memory, and the client would finish writing.
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
  let written = 0;
  let blocked = false;
  const total = 64;
  await new Promise<void>((resolve) => {
    const more = (): void => {
      while (written < total) {
        written++;
        if (!client.write(chunk)) { blocked = true; client.once('drain', more); return; }
      }
      resolve();
    };
    more();
    // The client stays blocked: the proxy has stopped reading from it.
    setTimeout(resolve, 1500);
  });
  t.ok(blocked && written < total, `the client was held back (wrote ${written} of ${total} MiB before the far side read)`);
  const farGot: Buffer[] = [];
  let farBytes = 0;
  far.on('data', (c: Buffer) => { farGot.push(c); farBytes += c.length; });
  const farEnded = new Promise<void>((r) => far.once('end', () => r()));
  far.resume();
  await new Promise<void>((resolve) => {
    const rest = (): void => {
      while (written < total) {
        written++;
        if (!client.write(chunk)) { client.once('drain', rest); return; }
      }
      client.end();
      resolve();
    };
    rest();
  });
  await farEnded;
  t.equal(farBytes, total << 20, 'every byte');
  const all = Buffer.concat(farGot);
  let same = true;
  for (let i = 0; i < all.length && same; i += 4093) same = all[i] === (i % (1 << 20)) % 251;
  t.ok(same, 'in order');
  far.end();
  t.equal((await done).bytesOut, total << 20);
});

t.test('a side handed over paused (as sniffing leaves it) flows', async (t) => {
  const farServer = net.createServer({ allowHalfOpen: true }, (s) => s.end('hello'));
  await new Promise<void>((r) => farServer.listen(0, '127.0.0.3', r));
  const proxy = net.createServer({ allowHalfOpen: true }, (near) => {
    near.pause();
    const up = net.connect({ host: '127.0.0.3', port: (farServer.address() as net.AddressInfo).port, allowHalfOpen: true });
    up.pause();
    up.once('connect', () => pipeBoth(near, up));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(async () => { await Promise.all([proxy, farServer].map((s) => new Promise((r) => s.close(r)))); });
  const client = net.connect({ host: '127.0.0.1', port: (proxy.address() as net.AddressInfo).port, allowHalfOpen: true });
  const got = await readAll(client);
  client.end();
  t.equal(got, 'hello');
});
