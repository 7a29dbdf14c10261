// The source agent's peer session reads its TLS socket into one reused buffer (dial-peer.ts with
// lent-reads.ts; agent/h2/frame-reader.ts lends the DATA views on, codec-tunnel.ts copies them into
// slabs of lent-copies.ts before writing them to the app). Real sockets and real mTLS on loopback;
// the oracle is a SHA-256 of the bytes each end wrote, compared with what the other end read.
// The connector dials through `dialTls` as the agent does (SocketFactory.connectTls), with a spy
// that counts the lent reads, so each test also shows the path was taken.
import t from 'tap';
import tls from 'node:tls';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { makeMesh, startTarget, startPath, dialApp, settled, type Mesh } from './fixture.ts';
import type { DialTls } from '../../../../agent/proxy/hbone/dial-peer.ts';
import { createSocketFactory } from '../../../../agent/proxy/socket-factory.ts';
import { LentCopies } from '../../../../agent/proxy/hbone/lent-copies.ts';
import { writeAll, writeBuffer } from '../../../common/write-all.ts';

const MiB = 1 << 20;
const sha = (b: Buffer | Buffer[]): string => {
  const h = createHash('sha256');
  for (const c of Array.isArray(b) ? b : [b]) h.update(c);
  return h.digest('hex');
};

let mesh: Mesh;
t.before(async () => {
  mesh = await makeMesh();
});

/** The agent's dialTls (SocketFactory.connectTls), counting the reads that land in the lent buffer. */
function countingDial(): { dialTls: DialTls; lent: () => number } {
  let n = 0;
  const sockets = createSocketFactory();
  const dialTls: DialTls = (host, port, opts) => {
    const onread = (opts as { onread?: net.OnReadOpts }).onread;
    if (onread === undefined) return sockets.connectTls({ ip: host, port }, 5000, opts);
    const inner = onread.callback;
    const counted: net.OnReadOpts = { buffer: onread.buffer, callback: (len, buf) => { n++; return inner(len, buf); } };
    return sockets.connectTls({ ip: host, port }, 5000, { ...opts, onread: counted } as tls.ConnectionOptions);
  };
  return { dialTls, lent: () => n };
}

t.test('32 MiB down and 8 MiB up at once through lent TLS reads: byte-exact both ways, each FIN crosses', async (t) => {
  const down = randomBytes(32 * MiB);
  const up = randomBytes(8 * MiB);
  let upGot: Buffer[] = [];
  let upEnded = false;
  const target = await startTarget((s) => {
    upGot = [];
    s.on('data', (c: Buffer) => upGot.push(c));
    s.on('end', () => { upEnded = true; });
    void writeBuffer(s, down, true);
  });
  const spy = countingDial();
  const { out } = await startPath(t, mesh, target, { client: { dialTls: spy.dialTls } });
  const app = await dialApp(out.port);
  const got: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    app.on('data', (c: Buffer) => got.push(c));
    app.on('end', resolve);
    app.on('error', reject);
  });
  await writeBuffer(app, up, true);
  await ended;
  t.equal(sha(got), sha(down), 'the app read exactly what the target wrote, in order');
  await settled(() => upGot.reduce((a, c) => a + c.length, 0));
  t.ok(upEnded, "the app's FIN reached the target");
  t.equal(sha(upGot), sha(up), 'the target read exactly what the app wrote');
  t.ok(spy.lent() > 100, `the session's TLS reads landed in the lent buffer (${spy.lent()} reads)`);
  app.end();
});

t.test('a reader that reads nothing holds the target back (the stream window), then gets every byte', async (t) => {
  const total = 48 * MiB;
  const data = randomBytes(total);
  let accepted = 0;
  const target = await startTarget((s) => {
    writeAll(s, total, (at, n) => data.subarray(at, at + n), (n) => { accepted = n; });
  });
  const spy = countingDial();
  const { out } = await startPath(t, mesh, target, { client: { dialTls: spy.dialTls } });
  const app = await dialApp(out.port);
  app.pause();
  await settled(() => accepted);
  t.ok(accepted < 16 * MiB, `the target could write only ${accepted} of ${total} octets to an app that reads nothing`);
  // Then the app reads slowly: 256 KiB at a time, a pause between.
  const got: Buffer[] = [];
  let n = 0;
  let slow = 0;
  const done = new Promise<void>((resolve, reject) => {
    app.on('data', (c: Buffer) => {
      got.push(c);
      n += c.length;
      if (n - slow >= 256 * 1024 && n < 8 * MiB) {
        slow = n;
        app.pause();
        setTimeout(() => app.resume(), 20);
      }
    });
    app.on('end', resolve);
    app.on('error', reject);
  });
  app.resume();
  await done;
  t.equal(n, total, 'every octet arrived');
  t.equal(sha(got), sha(data), 'in order, unchanged');
  t.ok(spy.lent() > 0, 'through lent reads');
  app.end();
});

t.test('LentCopies: copies side by side make one run; a slab is rewound or given back only once its writes completed', (t) => {
  const c = new LentCopies();
  const src = Buffer.alloc(100 * 1024, 1);
  t.equal(c.append(src), undefined, 'the first copy starts a run');
  src.fill(2);
  t.equal(c.append(src), undefined, 'the second fits the same slab');
  src.fill(3);
  const a = c.take() as Buffer;
  t.equal(a.length, 200 * 1024, 'the two copies are one run');
  t.ok(a.subarray(0, 100 * 1024).every((x) => x === 1) && a.subarray(100 * 1024).every((x) => x === 2), 'each copy keeps what the source held when it was made');
  t.equal(c.take(), undefined, 'nothing more to take');
  t.equal(c.append(src.subarray(0, 50 * 1024)), undefined, '50 KiB more fit the first slab');
  const b = c.append(src) as Buffer;
  t.equal(c.slabs, 2, 'a copy that does not fit starts a second slab');
  t.equal(b?.length, 50 * 1024, 'and hands back the run before it, to be written first');
  t.ok(b.every((x) => x === 3));
  const d = c.take() as Buffer;
  t.ok(d.every((x) => x === 3) && d.length === 100 * 1024, 'the new slab holds the last copy');
  c.written(null); // a
  t.equal(c.slabs, 2, 'the first slab still has a write in flight');
  t.ok(b.every((x) => x === 3), 'a slab with a write in flight is not reused');
  c.written(null); // b
  t.equal(c.slabs, 1, 'the first slab went back once its two writes completed');
  c.written(null); // d
  t.equal(c.slabs, 0, 'with nothing in flight and nothing to take, the slab went back: an idle tunnel holds none');
  src.fill(4);
  c.append(src);
  const e = c.take() as Buffer;
  t.equal(e.buffer, d.buffer, 'the next copy takes the same slab back from the pool');
  t.equal(e.byteOffset, d.byteOffset, 'from its start');
  t.ok(e.every((x) => x === 4));
  c.append(src);
  c.written(null); // e
  const f = c.take() as Buffer;
  t.equal(f.byteOffset, e.byteOffset + e.length, 'a run not yet taken keeps the slab from being rewound');
  c.written(null);
  c.release();
  t.equal(c.slabs, 0, 'released with nothing in flight');
  const g = new LentCopies();
  g.append(src);
  g.take();
  g.written(new Error('EPIPE'));
  g.release();
  t.equal(g.slabs, 0, 'after a failed write nothing is tracked (the slabs are left to the collector)');
  t.end();
});
