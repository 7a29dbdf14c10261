// Session pooling: reuse, the per-session stream limit, replacement after the peer goes away,
// idle close, and a rotated client certificate used by new sessions while old tunnels keep flowing.
import t from 'tap';
import { ErrorCodes, isWeftError } from '../../../../common/errors.ts';
import type { ClientHttp2Stream } from 'node:http2';
import {
  makeMesh, startHbone, connector, startTarget, closeServer, openReq, workloadCert, waitFor,
  CLIENT_ID, type Mesh,
} from './fixture.ts';

let mesh: Mesh;
t.before(async () => {
  mesh = await makeMesh();
});

/** Writes `msg` and resolves with the echoed bytes. */
function echo(s: ClientHttp2Stream, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got.length >= msg.length) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(msg);
  });
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, opts: Parameters<typeof connector>[1] = {}) {
  const target = await startTarget((s) => s.pipe(s));
  const hb = await startHbone(mesh);
  const conn = connector(mesh, opts);
  t.teardown(async () => {
    await conn.close();
    await hb.hbone.close();
    await closeServer(target.server, target.sockets);
  });
  return { target, hb, conn, req: openReq(hb.port, target.port) };
}

t.test('many sequential and parallel tunnels reuse one session', async (t) => {
  const { conn, req } = await setup(t);
  for (let i = 0; i < 5; i++) {
    const s = await conn.open(req);
    t.equal(await echo(s, `seq-${i}`), `seq-${i}`);
    s.end();
  }
  const parallel = await Promise.all(Array.from({ length: 20 }, () => conn.open(req)));
  t.equal(conn.sessionCount(req), 1, 'one session for 25 tunnels');
  t.equal(conn.liveSessions, 1);
  for (const s of parallel) s.end();
});

t.test('the stream limit opens another session', async (t) => {
  const { conn, req } = await setup(t, { maxStreamsPerSession: 3 });
  const streams = await Promise.all(Array.from({ length: 7 }, () => conn.open(req)));
  t.equal(conn.sessionCount(req), 3, '7 streams at 3 per session');
  for (const [i, s] of streams.entries()) t.equal(await echo(s, `s${i}`), `s${i}`);
  for (const s of streams) s.end();
});

t.test('a session the server closed is replaced', async (t) => {
  const { conn, req, hb } = await setup(t);
  const first = await conn.open(req);
  t.equal(await echo(first, 'a'), 'a');
  first.end();
  await hb.hbone.close();
  // The client learns of the close from the wire (GOAWAY, then FIN): after the server's own close
  // at the earliest, a turn or two later on the codec (its session closes with its socket).
  await waitFor(() => conn.liveSessions === 0, 'the pooled session to close');
  t.equal(conn.liveSessions, 0, 'the server going away closed the pooled session');
  const stale = await conn.open(req).then(() => null, (e: unknown) => e);
  t.ok(isWeftError(stale, ErrorCodes.TUNNEL_CONNECT), 'with the agent down, open fails instead of using a stale session');
  // The agent comes back on the same address: the pool dials a new session.
  const hb2 = await startHbone(mesh, undefined, hb.port);
  t.teardown(() => hb2.hbone.close());
  const again = await conn.open(req);
  t.equal(await echo(again, 'b'), 'b');
  t.equal(conn.sessionCount(req), 1);
  again.end();
});

t.test('idle sessions are closed after the idle timeout', async (t) => {
  const { conn, req } = await setup(t, { idleTimeoutMs: 50 });
  const s = await conn.open(req);
  t.equal(await echo(s, 'x'), 'x');
  t.equal(conn.liveSessions, 1);
  s.end();
  await waitFor(() => conn.liveSessions === 0, 'idle close');
  t.equal(conn.sessionCount(req), 0);
  const again = await conn.open(req);
  t.equal(await echo(again, 'y'), 'y', 'a fresh session after idle close');
  again.end();
});

t.test('after a client cert rotation new tunnels use a new session; old ones keep flowing', async (t) => {
  const { conn, req, hb } = await setup(t);
  const old = await conn.open(req);
  t.equal(await echo(old, 'before'), 'before');
  const oldCert = mesh.clientCerts.certs.get(CLIENT_ID)!;
  const rotated = await workloadCert(mesh.ca, CLIENT_ID);
  mesh.clientCerts.certs.set(CLIENT_ID, rotated);
  t.teardown(async () => { mesh.clientCerts.certs.set(CLIENT_ID, oldCert); });

  const fresh = await conn.open(req);
  t.equal(await echo(fresh, 'after'), 'after');
  t.equal(conn.sessionCount(req), 1, 'only the new session takes streams');
  t.equal(conn.liveSessions, 2, 'the old session drains its tunnel');
  t.equal(await echo(old, 'still'), 'still', 'the old tunnel still flows');

  const serials = hb.requests.map((r) => r.socket.getPeerCertificate().serialNumber);
  t.not(serials[0], serials[1], 'the server saw the rotated certificate on the new session');

  old.end();
  await waitFor(() => conn.liveSessions === 1, 'old session closed once drained');
  fresh.end();
});
