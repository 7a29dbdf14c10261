// HBONE CONNECT tunnels on both HTTP/2 engines (WEFT_L7_H2_ENGINE): the agent's tunnel client
// (HboneConnector, what the source agent runs) against the agent's HBONE listener
// (createHboneServer + deliverToTcp, what the destination agent runs), each on node:http2 or on
// agent/h2. The codec client is the subject (codec → node:http2 is the rolling-upgrade pair,
// codec → codec the new default); node:http2 → codec is run too, as the pair the other way.
// Real mTLS 1.3 with mesh certificates, SNI and ALPN h2 over loopback; the app side is the
// agent's own splice (pipeBoth, via the fixture's outbound listener) and the targets are real
// TCP servers on 127.0.0.2. The oracles are the test's own: sha256 and byte comparison of what
// the other end received, counts, error codes, and the sockets' own errors (ECONNRESET).
// Fakes: a node:http2 server that answers with an error GOAWAY, a TCP server that never speaks
// TLS, and a TCP forwarder that freezes — faults the real listener does not produce on demand.
import t from 'tap';
import net from 'node:net';
import http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import type { ClientHttp2Stream } from 'node:http2';
import { ErrorCodes, errorCode, isWeftError } from '../../../common/errors.ts';
import type { H2Engine, TunnelError } from '../../../agent/proxy/hbone/index.ts';
import { writeBuffer } from '../../common/write-all.ts';
import {
  CLIENT_ID, SERVER_ID, TARGET_HOST, makeMesh, startHbone, startTarget, startOutbound, startPath, connector, closeServer, dialApp, hashTarget, openReq, readAll, settled, waitFor, type Mesh, type PathOptions,
} from '../proxy/hbone/fixture.ts';

const PAIRS: Array<[client: H2Engine, server: H2Engine]> = [['weft', 'node'], ['weft', 'weft'], ['node', 'weft']];
const MiB = 1 << 20;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type Target = Awaited<ReturnType<typeof startTarget>>;


interface Pump {
  /** Octets the writable has taken so far. */
  accepted: number;
  /** The last write returned false and no 'drain' came yet. */
  waiting: boolean;
  /** Everything written and the writable ended. */
  done: Promise<void>;
}

/** Writes `total` octets in 64 KiB pieces as fast as the writable takes them, then ends it. */
function pump(w: NodeJS.WritableStream, total: number): Pump {
  const piece = Buffer.alloc(64 * 1024, 0x5a);
  const p: Pump = { accepted: 0, waiting: false, done: Promise.resolve() };
  p.done = new Promise((resolve) => {
    const more = (): void => {
      p.waiting = false;
      while (p.accepted < total) {
        p.accepted += piece.length;
        if (!w.write(piece)) {
          p.waiting = true;
          w.once('drain', more);
          return;
        }
      }
      w.end();
      resolve();
    };
    more();
  });
  return p;
}

/** Resolves with the error of a promise expected to reject (null when it resolved). */
async function failure(p: Promise<unknown>): Promise<TunnelError | null> {
  try {
    const s = await p;
    (s as ClientHttp2Stream).destroy();
    return null;
  } catch (err) {
    return err as TunnelError;
  }
}

/** A port nothing listens on. */
async function deadPort(host = '127.0.0.1'): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, host, r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

const mesh: Mesh = await makeMesh();

function pair(t: { teardown(fn: () => Promise<void>): void }, client: H2Engine, server: H2Engine, target: Target, opts: { closeGraceMs?: number; connector?: PathOptions['client'] } = {}) {
  return startPath(t, mesh, target, { server: { engine: server, closeGraceMs: opts.closeGraceMs ?? 200 }, client: { engine: client, ...opts.connector } });
}

const dial = dialApp;

for (const [clientEngine, serverEngine] of PAIRS) {
  t.test(`tunnel client ${clientEngine} → listener ${serverEngine}`, async (t) => {
    t.test('upload: 32 MiB byte-exact; the app half-closes and still gets the answer', async (t) => {
      const target = await hashTarget();
      const { out, hb } = await pair(t, clientEngine, serverEngine, target);
      const app = await dial(out.port);
      const payload = randomBytes(32 * MiB);
      const answer = readAll(app);
      await writeBuffer(app, payload, true);
      t.equal((await answer).toString(), `${payload.length} ${sha(payload)}`, 'the target got every octet in order, and its answer came back after the FIN');
      await waitFor(() => hb.results.length === 1, 'server splice done', 10_000);
      t.equal(hb.results[0].error, undefined, 'a clean close on the listener side');
    });

    t.test('download: 32 MiB byte-exact; the target half-closes first, the app keeps sending', async (t) => {
      const payload = randomBytes(32 * MiB);
      let afterEnd = 0;
      let targetEnded = false;
      let targetGot = Buffer.alloc(0);
      const target = await startTarget((s) => {
        const got: Buffer[] = [];
        s.on('data', (c: Buffer) => got.push(c));
        s.on('end', () => {
          targetGot = Buffer.concat(got);
          targetEnded = true;
          s.end();
        });
        void writeBuffer(s, payload, true).then(() => { afterEnd = 1; });
      });
      const { out } = await pair(t, clientEngine, serverEngine, target);
      const app = await dial(out.port);
      const received = await readAll(app);
      t.equal(received.length, payload.length);
      t.ok(received.equals(payload), 'every octet in order, then a clean end');
      t.equal(afterEnd, 1, 'the target had ended its side');
      t.notOk(app.writableEnded, 'the app can still send');
      const late = randomBytes(MiB);
      await writeBuffer(app, late, true);
      await waitFor(() => targetEnded, 'the target to see the app end', 10_000);
      t.ok(targetGot.equals(late), '1 MiB sent after the target half-closed arrived, byte-exact');
    });

    t.test('both ways at once: 24 MiB echoed byte-exact', async (t) => {
      const target = await startTarget((s) => s.pipe(s));
      const { out } = await pair(t, clientEngine, serverEngine, target);
      const app = await dial(out.port);
      const payload = randomBytes(24 * MiB);
      const back = readAll(app);
      await writeBuffer(app, payload, true);
      const got = await back;
      t.equal(got.length, payload.length);
      t.ok(got.equals(payload), 'echoed in order');
    });

    t.test('backpressure: a reader that stops stops its sender, both ways', async (t) => {
      const total = 64 * MiB;
      let targetRead = 0;
      let targetSocket: net.Socket | undefined;
      let down: Pump | undefined;
      const target = await startTarget((s) => {
        targetSocket = s;
        s.pause();
        s.on('data', (c: Buffer) => { targetRead += c.length; });
        down = pump(s, total);
      });
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target);
      const tunnel = await conn.open(openReq(hb.port, target.port));
      tunnel.pause();
      // Down: the tunnel is not read, so the target's writes stop after windows and buffers.
      await waitFor(() => down !== undefined, 'the target to start writing', 10_000);
      await settled(() => down?.accepted ?? 0);
      t.ok(down !== undefined && down.accepted < 24 * MiB, `the target wrote ${down?.accepted} of ${total} octets to a tunnel nobody reads`);
      // Up: the target is not read either, so the tunnel's writes stop the same way.
      const up = pump(tunnel, total);
      await settled(() => up.accepted);
      t.ok(up.waiting, 'the tunnel writer waits for drain');
      t.ok(up.accepted < 24 * MiB, `the tunnel took ${up.accepted} of ${total} octets for a target that reads nothing`);
      // Both readers resume: everything arrives.
      let got = 0;
      tunnel.on('data', (c: Buffer) => { got += c.length; });
      const ended = new Promise((r) => tunnel.once('end', r));
      tunnel.resume();
      targetSocket?.resume();
      await up.done;
      await ended;
      t.equal(got, total, 'all of the download once read');
      await waitFor(() => targetRead === total, 'the target to read the whole upload', 20_000);
      t.equal(targetRead, total, 'all of the upload once read');
    });

    t.test('resets cross the tunnel both ways', async (t) => {
      let targetErr = undefined as NodeJS.ErrnoException | undefined;
      let targetClosed = false;
      let gotData = false;
      const target = await startTarget((s) => {
        s.on('data', (c: Buffer) => {
          gotData = true;
          if (c.toString() === 'reset me') s.resetAndDestroy();
        });
        s.on('error', (e: NodeJS.ErrnoException) => { targetErr = e; });
        s.on('close', () => { targetClosed = true; });
      });
      const { out, hb } = await pair(t, clientEngine, serverEngine, target);
      // The target resets: the app sees a reset, not an end.
      const a = await dial(out.port);
      const aErr = await new Promise<string>((resolve) => {
        a.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        a.on('end', () => resolve('clean end'));
        a.write('reset me');
      });
      t.equal(aErr, 'ECONNRESET', 'target reset → app reset');
      // The app resets: the target sees a reset.
      gotData = false;
      targetClosed = false;
      targetErr = undefined as NodeJS.ErrnoException | undefined;
      const b = await dial(out.port);
      b.write('hello');
      await waitFor(() => gotData, 'tunnel up', 10_000);
      b.resetAndDestroy();
      await waitFor(() => targetClosed, 'target socket closed', 10_000);
      t.equal((targetErr as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET', 'app reset → target reset');
      await waitFor(() => hb.results.length === 2, 'both server splices done', 10_000);
      t.ok(hb.results.every((r) => r.error !== undefined), 'the listener side reports both as aborted');
    });

    t.test('destroying a tunnel cancels its stream: the listener and the target see it end', async (t) => {
      let targetClosed = false;
      const target = await startTarget((s) => {
        s.resume();
        s.on('close', () => { targetClosed = true; });
      });
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target);
      const tunnel = await conn.open(openReq(hb.port, target.port));
      tunnel.write('x');
      await waitFor(() => hb.requests.length === 1, 'the CONNECT to arrive', 10_000);
      tunnel.destroy();
      await waitFor(() => hb.results.length === 1, 'the server splice to finish', 10_000);
      t.ok(hb.results[0].error, 'the listener saw the stream cut, not ended');
      await waitFor(() => targetClosed, 'the target socket to close', 10_000);
      t.pass('the target connection was closed');
      const again = await conn.open(openReq(hb.port, target.port));
      t.equal(conn.sessionCount(openReq(hb.port, target.port)), 1, 'the session outlives the cancelled stream');
      again.destroy();
    });

    t.test('the CONNECT carries the hop: target authority, upgrade marker, both identities', async (t) => {
      const target = await startTarget((s) => s.resume());
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target);
      const plain = await conn.open(openReq(hb.port, target.port));
      const upgrade = await conn.open({ ...openReq(hb.port, target.port), upgrade: true });
      t.equal(hb.requests.length, 2);
      t.same(hb.requests.map((r) => ({ target: r.target, upgrade: r.upgrade, peer: r.peerIdentity, local: r.localIdentity })), [
        { target: { host: TARGET_HOST, port: target.port }, upgrade: false, peer: CLIENT_ID, local: SERVER_ID },
        { target: { host: TARGET_HOST, port: target.port }, upgrade: true, peer: CLIENT_ID, local: SERVER_ID },
      ]);
      plain.destroy();
      upgrade.destroy();
    });

    t.test('many concurrent tunnels: 300 at once, 100 streams per session', async (t) => {
      const target = await hashTarget();
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target, { connector: { maxStreamsPerSession: 100 } });
      const req = openReq(hb.port, target.port);
      const tunnels = await Promise.all(Array.from({ length: 300 }, () => conn.open(req)));
      t.equal(conn.sessionCount(req), 3, 'three sessions of 100 streams');
      const ok = await Promise.all(tunnels.map(async (tunnel, i) => {
        const payload = randomBytes(4096 + i);
        const answer = readAll(tunnel as unknown as net.Socket);
        tunnel.end(payload);
        return (await answer).toString() === `${payload.length} ${sha(payload)}`;
      }));
      t.equal(ok.filter(Boolean).length, 300, 'every tunnel carried its own bytes exactly');
    });

    t.test('GOAWAY from the listener drains: the tunnel in flight finishes, the next open fails TUNNEL_CONNECT', async (t) => {
      const target = await startTarget((s) => s.pipe(s));
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target, { closeGraceMs: 10_000 });
      const req = openReq(hb.port, target.port);
      const tunnel = await conn.open(req);
      const got: Buffer[] = [];
      tunnel.on('data', (c: Buffer) => got.push(c));
      tunnel.write('before ');
      await waitFor(() => Buffer.concat(got).length === 7, 'the first echo', 10_000);
      const closing = hb.hbone.close();
      await waitFor(() => conn.sessionCount(req) === 0, 'the GOAWAY to take the session out of the pool', 10_000);
      const ended = new Promise((r) => tunnel.once('end', r));
      const more = randomBytes(2 * MiB);
      await writeBuffer(tunnel, more, true);
      await ended;
      t.ok(Buffer.concat(got).equals(Buffer.concat([Buffer.from('before '), more])), 'the tunnel in flight carried 2 MiB more after the GOAWAY and ended cleanly');
      await closing;
      const err = await failure(conn.open(req));
      t.ok(isWeftError(err, ErrorCodes.TUNNEL_CONNECT), `the listener gone, a new tunnel fails TUNNEL_CONNECT (${err?.message})`);
    });

    t.test('the connector\'s close (SIGTERM drain) lets open tunnels finish, then cuts what is left', async (t) => {
      const target = await startTarget((s) => s.pipe(s));
      const { conn, hb } = await pair(t, clientEngine, serverEngine, target, { connector: { closeGraceMs: 10_000 } });
      const tunnel = await conn.open(openReq(hb.port, target.port));
      const back = readAll(tunnel as unknown as net.Socket);
      let closed = false;
      const closing = conn.close().then(() => { closed = true; });
      await new Promise((r) => setTimeout(r, 100));
      t.notOk(closed, 'close waits for the open tunnel');
      const payload = randomBytes(MiB);
      await writeBuffer(tunnel, payload, true);
      t.ok((await back).equals(payload), 'the tunnel finished its exchange during the drain');
      await closing;
      t.equal(conn.liveSessions, 0, 'no session left');

      // A tunnel that never ends is cut once the grace is over.
      let targetClosed = false;
      const stuck = await startTarget((s) => {
        s.resume();
        s.on('close', () => { targetClosed = true; });
      });
      t.teardown(() => closeServer(stuck.server, stuck.sockets));
      const short = connector(mesh, { engine: clientEngine, closeGraceMs: 300 });
      const open = await short.open(openReq(hb.port, stuck.port));
      open.on('error', () => undefined);
      open.write('hold');
      await short.close();
      t.ok(open.destroyed, 'the tunnel left after the grace was cut');
      await waitFor(() => targetClosed, 'the target to see its connection closed', 10_000);
      t.equal(short.liveSessions, 0);
    });
  });
}

for (const clientEngine of ['weft', 'node'] as const) {
  t.test(`tunnel client ${clientEngine}: failures to open and their codes`, async (t) => {
    t.test('a peer agent that is down: TUNNEL_CONNECT, caused by ECONNREFUSED', async (t) => {
      const conn = connector(mesh, { engine: clientEngine });
      t.teardown(() => conn.close());
      const err = await failure(conn.open(openReq(await deadPort(), 9)));
      t.ok(isWeftError(err, ErrorCodes.TUNNEL_CONNECT), String(err?.message));
      t.equal(errorCode(err?.cause), 'ECONNREFUSED');
      t.equal(err?.status, undefined, 'no answer from the peer');
      await waitFor(() => conn.liveSessions === 0, 'the failed session to leave', 10_000);
    });

    for (const serverEngine of ['node', 'weft'] as const) {
      t.test(`nothing listening on the target (listener ${serverEngine}): TUNNEL_REFUSED 503 with the listener's code`, async (t) => {
        const hb = await startHbone(mesh, undefined, 0, { engine: serverEngine });
        const conn = connector(mesh, { engine: clientEngine });
        t.teardown(async () => {
          await conn.close();
          await hb.hbone.close();
        });
        const err = await failure(conn.open(openReq(hb.port, await deadPort(TARGET_HOST))));
        t.ok(isWeftError(err, ErrorCodes.TUNNEL_REFUSED), String(err?.message));
        t.equal(err?.status, 503);
        t.equal(err?.serverCode, ErrorCodes.UPSTREAM_CONNECT);
        t.equal(conn.liveSessions, 1, 'the session stays for the next tunnel');
      });

      t.test(`a server with another workload's identity (listener ${serverEngine}): TUNNEL_CONNECT`, async (t) => {
        const hb = await startHbone(mesh, undefined, 0, { engine: serverEngine });
        const conn = connector(mesh, { engine: clientEngine });
        t.teardown(async () => {
          await conn.close();
          await hb.hbone.close();
        });
        // The client asks for `other`, whose certificate the listener does not hold: no handshake.
        const err = await failure(conn.open({ ...openReq(hb.port, 9), destinationIdentity: 'spiffe://cluster.local/ns/shop/sa/other' }));
        t.ok(isWeftError(err, ErrorCodes.TUNNEL_CONNECT), String(err?.message));
      });
    }

    t.test('a peer that takes the TCP connection and never answers: TUNNEL_CONNECT after the connect timeout', async (t) => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((s) => {
        sockets.add(s);
        s.on('error', () => undefined);
        s.resume();
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as net.AddressInfo).port;
      const conn = connector(mesh, { engine: clientEngine, connectTimeoutMs: 400 });
      t.teardown(async () => {
        await conn.close();
        await closeServer(silent, sockets);
      });
      const err = await failure(conn.open(openReq(port, 9)));
      t.ok(isWeftError(err, ErrorCodes.TUNNEL_CONNECT), String(err?.message));
      t.match(err?.message ?? '', /got no answer in 400 ms/);
      await waitFor(() => conn.liveSessions === 0, 'the half-open session to be destroyed', 10_000);
      t.pass('the session that never connected is gone');
    });

    t.test('a peer that ends the session with an error GOAWAY: TUNNEL_REFUSED with its debug data', async (t) => {
      const cert = await mesh.serverCerts.get(SERVER_ID);
      const bad = http2.createSecureServer({ key: cert.keyPem, cert: cert.certChainPem.join('\n'), minVersion: 'TLSv1.3' });
      bad.on('stream', (stream) => {
        stream.on('error', () => undefined);
        stream.session?.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('WEFT_ERR_TEST_CALM'));
      });
      bad.on('sessionError', () => undefined);
      await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
      const port = (bad.address() as net.AddressInfo).port;
      const conn = connector(mesh, { engine: clientEngine });
      t.teardown(async () => {
        await conn.close();
        await new Promise<void>((r) => bad.close(() => r()));
      });
      const err = await failure(conn.open(openReq(port, 9)));
      t.ok(isWeftError(err, ErrorCodes.TUNNEL_REFUSED), String(err?.message));
      t.equal(err?.serverCode, 'WEFT_ERR_TEST_CALM');
      t.equal(conn.sessionCount(openReq(port, 9)), 0, 'the session left the pool');
    });

    t.test('a peer that goes silent with a tunnel open: PING liveness cuts it, the app sees a reset', async (t) => {
      const target = await startTarget((s) => s.pipe(s));
      const hb = await startHbone(mesh, undefined, 0, { engine: 'weft' });
      // A forwarder in front of the listener that can stop moving bytes without closing anything.
      const pairs: Array<[net.Socket, net.Socket]> = [];
      const fwd = net.createServer((c) => {
        const u = net.connect({ host: '127.0.0.1', port: hb.port });
        c.on('error', () => undefined);
        u.on('error', () => undefined);
        c.pipe(u);
        u.pipe(c);
        pairs.push([c, u]);
      });
      await new Promise<void>((r) => fwd.listen(0, '127.0.0.1', r));
      const fwdPort = (fwd.address() as net.AddressInfo).port;
      const conn = connector(mesh, { engine: clientEngine, liveness: { intervalMs: 200, timeoutMs: 600 } });
      const out = await startOutbound(conn, fwdPort, target.port);
      t.teardown(async () => {
        await closeServer(out.server, out.sockets);
        await conn.close();
        for (const [c, u] of pairs) {
          c.destroy();
          u.destroy();
        }
        await new Promise<void>((r) => fwd.close(() => r()));
        await hb.hbone.close();
        await closeServer(target.server, target.sockets);
      });
      const app = await dial(out.port);
      const got: Buffer[] = [];
      app.on('data', (c: Buffer) => got.push(c));
      app.write('ping');
      await waitFor(() => Buffer.concat(got).toString() === 'ping', 'the tunnel to echo', 10_000);
      for (const [c, u] of pairs) {
        c.unpipe(u);
        u.unpipe(c);
        c.pause();
        u.pause();
      }
      const outcome = await new Promise<string>((resolve) => {
        app.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        app.on('end', () => resolve('clean end'));
      });
      t.equal(outcome, 'ECONNRESET', 'the app learns its connection broke');
      await waitFor(() => conn.liveSessions === 0, 'the dead session to leave', 10_000);
      t.pass('the session to the silent peer was destroyed');
    });
  });
}
