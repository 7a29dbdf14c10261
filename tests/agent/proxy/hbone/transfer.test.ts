// Bytes through a real HBONE tunnel: app → outbound listener → HBONE client → mTLS HTTP/2 →
// HBONE server → target, and back. Exact bytes, concurrency, half-close and resets both ways.
import t from 'tap';
import { writeBuffer } from '../../../common/write-all.ts';
import { createHash, randomBytes } from 'node:crypto';
import {
  makeMesh, startTarget, startPath, dialApp, hashTarget, openReq, readAll, waitFor,
  CLIENT_ID, SERVER_ID, type Mesh,
} from './fixture.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let mesh: Mesh;
t.before(async () => {
  mesh = await makeMesh();
});

function setup(t: { teardown(fn: () => Promise<void>): void }, target: Awaited<ReturnType<typeof startTarget>>) {
  return startPath(t, mesh, target);
}

const dial = dialApp;

for (const size of [1, 64 * 1024, 16 * 1024 * 1024]) {
  t.test(`byte-exact transfer of ${size} B, and half-close: the client ends, then still reads the answer`, async (t) => {
    const target = await hashTarget();
    const { hb, out } = await setup(t, target);
    const app = await dial(out.port);
    const payload = randomBytes(size);
    const answer = readAll(app);
    app.end(payload);
    t.equal((await answer).toString(), `${size} ${sha(payload)}`);
    await waitFor(() => out.results.length === 1 && hb.results.length === 1, 'both splices done');
    t.same(out.results[0], { bytesOut: size, bytesIn: 64 + 1 + String(size).length, error: undefined });
    t.equal(hb.results[0].bytesOut, size, 'server side counted the bytes from the tunnel');
    t.equal(hb.requests[0].peerIdentity, CLIENT_ID, 'server saw the client SPIFFE ID');
    t.equal(hb.requests[0].localIdentity, SERVER_ID, 'server presented the destination identity');
  });
}

t.test('half-close the other way: the target ends first, the client keeps sending', async (t) => {
  const target = await startTarget((s) => {
    s.write('hello');
    s.end();
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => { got = Buffer.concat(chunks).toString(); });
  });
  let got = '';
  const { out } = await setup(t, target);
  const app = await dial(out.port);
  const answer = await readAll(app);
  t.equal(answer.toString(), 'hello', 'client saw the end of the server direction');
  app.write('still ');
  app.end('here');
  await waitFor(() => got === 'still here', 'target received data after its own end');
  t.pass('the client direction kept flowing after the server direction ended');
});

t.test('100 concurrent tunnels through one pool share one session', async (t) => {
  const target = await hashTarget();
  const { hb, conn, out } = await setup(t, target);
  const runs = Array.from({ length: 100 }, async (_, i) => {
    const app = await dial(out.port);
    const payload = randomBytes(1000 + i);
    const answer = readAll(app);
    app.end(payload);
    return (await answer).toString() === `${payload.length} ${sha(payload)}`;
  });
  const ok = await Promise.all(runs);
  t.equal(ok.filter(Boolean).length, 100, 'every tunnel carried its bytes exactly');
  t.equal(conn.sessionCount(openReq(hb.port, target.port)), 1, 'one pooled session');
  t.equal(hb.requests.length, 100);
});

t.test('8 tunnels on one mTLS session, 4 MiB each way at once, one app reading slowly: every byte to its own tunnel, in order', async (t) => {
  // Over TLS a read yields at most 16 KiB of cleartext, so every full DATA frame reaches the codec
  // in two pieces, views of two reads (agent/h2/frame-reader.ts), and the flushes of several
  // streams are joined into reused buffers (agent/h2/out-buffers.ts): a piece handed to the wrong
  // stream, or a buffer reused too early, shows here as a hash mismatch. The target echoes.
  const target = await startTarget((s) => s.pipe(s));
  const { hb, conn, out } = await setup(t, target);
  const size = 4 * 1024 * 1024;
  const runs = Array.from({ length: 8 }, async (_, i) => {
    const app = await dial(out.port);
    const payload = randomBytes(size);
    const got: Buffer[] = [];
    let n = 0;
    const ended = new Promise<void>((resolve, reject) => {
      app.on('end', resolve);
      app.on('error', reject);
    });
    app.on('data', (c: Buffer) => {
      got.push(c);
      n += c.length;
      // App 0 reads slowly: 256 KiB, then a pause, so its tunnel stalls on windows while the others flow.
      if (i === 0 && n >= 256 * 1024) {
        n = 0;
        app.pause();
        setTimeout(() => app.resume(), 20);
      }
    });
    await writeBuffer(app, payload, true);
    await ended;
    return sha(Buffer.concat(got)) === sha(payload);
  });
  const ok = await Promise.all(runs);
  t.same(ok, Array(8).fill(true), 'each app got back exactly what it sent');
  t.equal(conn.sessionCount(openReq(hb.port, target.port)), 1, 'all on one pooled session');
});

t.test('target resets → the client app sees ECONNRESET', async (t) => {
  const target = await startTarget((s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  const { out } = await setup(t, target);
  const app = await dial(out.port);
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    app.on('error', resolve);
    app.on('close', () => resolve(Object.assign(new Error('closed without error'), { code: 'NONE' })));
    app.write('boom');
  });
  t.equal(err.code, 'ECONNRESET');
});

t.test('client app resets → the target sees a reset', async (t) => {
  let targetErr: NodeJS.ErrnoException | undefined;
  let targetClosed = false;
  let targetGotData = false;
  const target = await startTarget((s) => {
    s.on('data', () => { targetGotData = true; });
    s.on('error', (e: NodeJS.ErrnoException) => { targetErr = e; });
    s.on('close', () => { targetClosed = true; });
  });
  const { out, hb } = await setup(t, target);
  const app = await dial(out.port);
  app.write('x');
  await waitFor(() => targetGotData, 'tunnel up');
  app.resetAndDestroy();
  await waitFor(() => targetClosed, 'target socket closed');
  t.equal(targetErr?.code, 'ECONNRESET', 'target saw a reset, not an orderly end');
  await waitFor(() => hb.results.length === 1, 'server splice done');
  t.ok(hb.results[0].error, 'server side reports the abort');
});

t.test('an opened tunnel is a plain Duplex: open() directly, write, read the answer', async (t) => {
  const target = await hashTarget();
  const { hb, conn } = await setup(t, target);
  const tunnel = await conn.open(openReq(hb.port, target.port));
  const chunks: Buffer[] = [];
  tunnel.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => tunnel.on('end', resolve));
  tunnel.end('abc');
  await ended;
  t.equal(Buffer.concat(chunks).toString(), `3 ${sha(Buffer.from('abc'))}`);
});
