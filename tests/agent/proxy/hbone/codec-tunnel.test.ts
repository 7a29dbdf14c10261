// CodecTunnel (agent/proxy/hbone/codec-tunnel.ts): one HBONE CONNECT tunnel on the codec as one
// object per end — the stream's handler and the splice with a socket — between real sockets and a
// real codec connection pair (two H2Sessions over loopback TCP; TLS and the HBONE listener's
// checks are covered by tunnel-engines.test.ts and the e2e suites). The app is a real TCP client
// spliced to the source end, the target a real TCP server spliced to the destination end, as the
// agents do. Oracles are the test's own: sha256 and byte counts of what each end received, the
// sockets' own errors (ECONNRESET) and the RFC 9113 code numbers (CONNECT_ERROR 0xa, CANCEL 0x8).
// No fakes.
import t from 'tap';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { H2Session } from '../../../../agent/h2/session.ts';
import type { H2Stream } from '../../../../agent/h2/connection.ts';
import { CodecTunnel, type TunnelOpening } from '../../../../agent/proxy/hbone/codec-tunnel.ts';
import { lentReads } from '../../../../agent/proxy/hbone/lent-reads.ts';
import type { SpliceResult } from '../../../../agent/proxy/tcp.ts';
import { readAll, settled, waitFor } from './fixture.ts';
import { writeBuffer } from '../../../common/write-all.ts';

const MiB = 1 << 20;
const CONNECT_ERROR = 0xa;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Rig {
  /** The app's socket (what the app holds). */
  app: net.Socket;
  /** The target's accepted socket. */
  target: net.Socket;
  /** The two ends: source (spliced with the app's captured socket) and destination (with the target's). */
  source: CodecTunnel;
  destination: CodecTunnel;
  /** Each end's SpliceResult once both its stream and its socket closed. */
  sourceDone: Promise<SpliceResult>;
  destinationDone: Promise<SpliceResult>;
  /** Splices the source end (at once unless the rig was asked to hold it). */
  spliceSource(): void;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A codec connection pair, an app, a target and one tunnel spliced across, as the two agents do it. */
async function rig(t: { teardown(fn: () => void | Promise<void>): void }, opts: { sendHighWater?: number; holdSource?: boolean; lent?: boolean } = {}): Promise<Rig> {
  const closers: Array<() => void> = [];
  t.teardown(() => { for (const c of closers) c(); });
  // The target.
  let target!: net.Socket;
  const targetServer = net.createServer({ allowHalfOpen: true }, (s) => { target = s; s.on('error', () => undefined); });
  const targetPort = await listen(targetServer);
  closers.push(() => { target?.destroy(); targetServer.close(); });

  // The destination agent: a codec server whose CONNECT streams become CodecTunnels to the target.
  let destination!: CodecTunnel;
  let destinationDone!: Promise<SpliceResult>;
  const sessions: H2Session[] = [];
  const hbone = net.createServer((sock) => {
    const session = new H2Session(sock, {
      role: 'server',
      sendHighWater: opts.sendHighWater,
      onStreamHead: (sess: H2Session, s: H2Stream) => {
        const tunnel = new CodecTunnel(sess.conn);
        tunnel.attach(s);
        destination = tunnel;
        // lent: the target is read into one reused buffer, as the agent's SocketFactory does (lent-reads.ts).
        const up = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, onread: opts.lent === true ? lentReads(tunnel) : undefined });
        up.on('error', () => undefined);
        destinationDone = new Promise((resolve) => {
          up.once('connect', () => {
            tunnel.answer([':status', '200'], false);
            tunnel.splice(up, resolve, false);
          });
        });
        return true;
      },
    });
    sessions.push(session);
  });
  const hbonePort = await listen(hbone);
  closers.push(() => { for (const s of sessions) s.destroy(); hbone.close(); });

  // The source agent: a codec client session, and the app's captured socket.
  const client = new H2Session(net.connect({ host: '127.0.0.1', port: hbonePort }), { role: 'client', readyEvent: 'connect', sendHighWater: opts.sendHighWater });
  client.socket.on('error', () => undefined);
  closers.push(() => client.destroy());
  const source = await new Promise<CodecTunnel>((resolve, reject) => {
    const opening: TunnelOpening = {
      answered: (tunnel, headers) => (headers[0] === ':status' && headers[1] === '200' ? resolve(tunnel) : reject(new Error(`answer ${headers.join(' ')}`))),
      failed: (_t, err) => reject(err ?? new Error('closed before an answer')),
    };
    client.open([':method', 'CONNECT', ':authority', `127.0.0.1:${targetPort}`], false, new CodecTunnel(client.conn, opening));
  });
  let captured!: net.Socket;
  const front = net.createServer({ allowHalfOpen: true }, (s) => { captured = s; });
  const frontPort = await listen(front);
  const app = net.connect({ host: '127.0.0.1', port: frontPort, allowHalfOpen: true });
  app.on('error', () => undefined);
  closers.push(() => { app.destroy(); captured?.destroy(); front.close(); });
  await waitFor(() => captured !== undefined && target !== undefined, 'the app and the target connected', 10_000);
  captured.on('error', () => undefined);
  let spliceSource!: () => void;
  const sourceDone = new Promise<SpliceResult>((resolve) => { spliceSource = () => source.splice(captured, resolve, true); });
  if (opts.holdSource !== true) spliceSource();
  return { app, target, source, destination, sourceDone, destinationDone, spliceSource };
}


/** Resolves with how a socket's read side finished: 'end', or its error code. */
function outcome(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.once('end', () => resolve('end'));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.resume();
  });
}

for (const lent of [false, true]) t.test(`a big transfer both ways at once arrives byte for byte, and each end counts it${lent ? ' (target read into one reused buffer)' : ''}`, async (t) => {
  const r = await rig(t, { lent });
  const up = randomBytes(32 * MiB);
  const down = randomBytes(24 * MiB);
  const atTarget = readAll(r.target);
  const atApp = readAll(r.app);
  await Promise.all([writeBuffer(r.app, up, true), writeBuffer(r.target, down, true)]);
  t.equal(sha(await atTarget), sha(up), 'the target got all 32 MiB in order');
  t.equal(sha(await atApp), sha(down), 'the app got all 24 MiB in order');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.same({ out: src.bytesOut, in: src.bytesIn, err: src.error }, { out: up.length, in: down.length, err: undefined }, 'source end: app → tunnel is bytesOut, a clean close');
  t.same({ out: dst.bytesOut, in: dst.bytesIn, err: dst.error }, { out: up.length, in: down.length, err: undefined }, 'destination end: tunnel → target is bytesOut, a clean close');
  t.equal(r.source.rstCode, 0, 'the stream closed with both END_STREAMs, no reset');
});

t.test('half-close app → target: the app\'s FIN reaches the target, the answer still comes back', async (t) => {
  const r = await rig(t);
  const targetEnd = outcome(r.target);
  const got: Buffer[] = [];
  r.target.on('data', (c: Buffer) => got.push(c));
  r.app.end('request');
  t.equal(await targetEnd, 'end', 'the target saw a clean FIN');
  t.equal(Buffer.concat(got).toString(), 'request');
  const answer = randomBytes(3 * MiB);
  const atApp = readAll(r.app);
  await writeBuffer(r.target, answer, true);
  t.ok((await atApp).equals(answer), 'the target\'s 3 MiB answer after the app\'s FIN arrived whole');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.equal(src.error, undefined);
  t.equal(dst.error, undefined);
});

t.test('half-close target → app: the target\'s FIN reaches the app, the app still sends', async (t) => {
  const r = await rig(t);
  const appEnd = outcome(r.app);
  r.target.end('bye');
  t.equal(await appEnd, 'end', 'the app saw a clean FIN');
  const more = randomBytes(2 * MiB);
  const atTarget = readAll(r.target);
  await writeBuffer(r.app, more, true);
  t.ok((await atTarget).equals(more), 'the app\'s 2 MiB after the target\'s FIN arrived whole');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.same([src.error, dst.error], [undefined, undefined], 'both ends closed cleanly');
  t.same([src.bytesIn, dst.bytesIn], [3, 3]);
});

t.test('what the target sent, and its FIN, before the source end was spliced reach the app first, in order', async (t) => {
  const r = await rig(t, { holdSource: true });
  const early = randomBytes(300 * 1024);
  r.target.end(early);
  // The bytes sit in the source end, held against the stream window, until the splice.
  await waitFor(() => r.target.writableFinished, 'the target\'s bytes and FIN to leave', 10_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const atApp = readAll(r.app);
  r.spliceSource();
  t.ok((await atApp).equals(early), 'the app got the early 300 KiB, then a clean FIN');
  r.app.end();
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.same([src.bytesIn, src.error, dst.error], [early.length, undefined, undefined]);
});

t.test('app reset → RST_STREAM CONNECT_ERROR → target reset', async (t) => {
  const r = await rig(t);
  const targetOutcome = outcome(r.target);
  r.app.write('hello');
  await waitFor(() => r.target.bytesRead === 5, 'the first bytes at the target', 10_000);
  r.app.resetAndDestroy();
  t.equal(await targetOutcome, 'ECONNRESET', 'the target saw a reset, not a FIN');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.equal(r.source.rstCode, CONNECT_ERROR, 'the source end reset the stream with CONNECT_ERROR');
  t.equal(r.destination.rstCode, CONNECT_ERROR, 'the destination end got CONNECT_ERROR');
  t.ok(src.error !== undefined && dst.error !== undefined, 'both ends report the tunnel as aborted');
});

t.test('target reset → RST_STREAM CONNECT_ERROR → app reset', async (t) => {
  const r = await rig(t);
  const appOutcome = outcome(r.app);
  r.target.write('hi');
  await waitFor(() => r.app.bytesRead === 2, 'the first bytes at the app', 10_000);
  r.target.resetAndDestroy();
  t.equal(await appOutcome, 'ECONNRESET', 'the app saw a reset, not a FIN');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.equal(r.destination.rstCode, CONNECT_ERROR);
  t.equal(r.source.rstCode, CONNECT_ERROR);
  t.ok(src.error !== undefined && dst.error !== undefined, 'both ends report the tunnel as aborted');
});

t.test('a tunnel destroyed at the source cancels its stream: the target sees it closed', async (t) => {
  const r = await rig(t);
  const targetOutcome = outcome(r.target);
  r.source.destroy();
  t.equal(await targetOutcome, 'ECONNRESET', 'the target connection was reset');
  t.equal(r.destination.rstCode, 0x8, 'RST_STREAM CANCEL reached the destination end');
  const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
  t.ok(src.error !== undefined && dst.error !== undefined);
});

for (const [dir, from, to, lent] of [['down', 'target', 'app', false], ['down', 'target', 'app', true], ['up', 'app', 'target', false]] as const) {
  const how = lent ? ' (the target read into one reused buffer, copied as it goes)' : '';
  t.test(`backpressure ${dir}${how}: a slow ${to} holds the ${from} after windows and buffers, and loses no byte`, async (t) => {
    const r = await rig(t, { sendHighWater: 256 * 1024, lent });
    const writer = r[from];
    const reader = r[to];
    reader.pause();
    const total = 48 * MiB;
    const data = randomBytes(total);
    let accepted = 0;
    let waiting = false;
    const done = new Promise<void>((resolve) => {
      const more = (): void => {
        waiting = false;
        while (accepted < total) {
          const piece = data.subarray(accepted, accepted + 64 * 1024);
          accepted += piece.length;
          if (!writer.write(piece)) {
            waiting = true;
            writer.once('drain', more);
            return;
          }
        }
        writer.end();
        resolve();
      };
      more();
    });
    await settled(() => accepted);
    t.ok(waiting, `the ${from} waits for drain`);
    t.ok(accepted < 16 * MiB, `the ${from} could write only ${accepted} of ${total} octets to a ${to} that reads nothing`);
    // The reader reads slowly: 256 KiB at a time, then a pause.
    const got: Buffer[] = [];
    let n = 0;
    reader.on('data', (c: Buffer) => {
      got.push(c);
      n += c.length;
      if (n >= 256 * 1024) {
        n = 0;
        reader.pause();
        setTimeout(() => reader.resume(), 2);
      }
    });
    const ended = new Promise((resolve) => reader.once('end', resolve));
    reader.resume();
    await done;
    await ended;
    t.equal(sha(Buffer.concat(got)), sha(data), `the ${to} got all ${total} octets in order`);
    // The other direction ends too, and both ends finish cleanly.
    r[to].end();
    r[from].resume();
    const [src, dst] = await Promise.all([r.sourceDone, r.destinationDone]);
    t.same([src.error, dst.error], [undefined, undefined]);
  });
}
