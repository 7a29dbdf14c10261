// SessionPool `spread`: streams of one key go round-robin over that many sessions (so a peer's
// SO_REUSEPORT workers each get some), which are dialled on demand and replaced when they fail.
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ClientHttp2Session } from 'node:http2';
import { createSecureContext } from 'node:tls';
import { SessionPool } from '../../../../agent/proxy/hbone/pool.ts';

/** The part of a ClientHttp2Session the pool looks at. */
class FakeSession extends EventEmitter {
  closed = false;
  destroyed = false;
  remoteSettings = { maxConcurrentStreams: 100 };
  close(): void {
    this.closed = true;
    this.emit('close');
  }
}

function pool(spread: number | undefined) {
  const dialled: FakeSession[] = [];
  const p = new SessionPool({ maxStreamsPerSession: 1000, idleTimeoutMs: 60_000, ...(spread === undefined ? {} : { spread }) });
  const dial = (): ClientHttp2Session => {
    const s = new FakeSession();
    dialled.push(s);
    return s as unknown as ClientHttp2Session;
  };
  return { p, dial, dialled };
}

const ctx = createSecureContext();

t.test('without spread, one session carries every stream', async (t) => {
  const { p, dial, dialled } = pool(undefined);
  for (let i = 0; i < 10; i++) p.acquire('k', ctx, dial);
  t.equal(dialled.length, 1);
});

t.test('spread 2: two sessions, streams alternate between them', async (t) => {
  const { p, dial, dialled } = pool(2);
  const counts = new Map<unknown, number>();
  for (let i = 0; i < 100; i++) {
    const e = p.acquire('k', ctx, dial);
    counts.set(e.session, (counts.get(e.session) ?? 0) + 1);
    p.release(e);
  }
  t.equal(dialled.length, 2, 'dialled exactly two');
  const [a, b] = [...counts.values()];
  t.ok(a >= 40 && b >= 40, `both sessions carry streams (${a} / ${b})`);
  t.equal(p.sessionsFor('k').length, 2);
  t.equal(p.sessionsFor('other').length, 0, 'keys are apart');
});

t.test('spread: a failed session is replaced on the next acquire', async (t) => {
  const { p, dial, dialled } = pool(2);
  p.release(p.acquire('k', ctx, dial));
  p.release(p.acquire('k', ctx, dial));
  t.equal(dialled.length, 2);
  dialled[0].emit('error', new Error('gone'));
  const e = p.acquire('k', ctx, dial);
  t.equal(dialled.length, 3, 'a third session replaces the failed one');
  t.equal(e.session, dialled[2] as unknown as ClientHttp2Session, 'and takes the stream');
  t.equal(p.sessionsFor('k').length, 2);
});

t.test('after a burst, sessions beyond spread close after the short surplus idle time; the key keeps spread of them for the full idle timeout', async (t) => {
  const dialled: FakeSession[] = [];
  const p = new SessionPool({ maxStreamsPerSession: 2, idleTimeoutMs: 400, surplusIdleTimeoutMs: 60, spread: 1 });
  const dial = (): ClientHttp2Session => {
    const s = new FakeSession();
    dialled.push(s);
    return s as unknown as ClientHttp2Session;
  };
  // A burst: 10 streams at once, 2 per session, so 5 sessions.
  const entries = Array.from({ length: 10 }, () => p.acquire('k', ctx, dial));
  t.equal(dialled.length, 5, 'the burst opened five sessions');
  for (const e of entries) p.release(e);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(dialled.filter((s) => s.closed).length, 4, 'past the surplus idle time, four of them closed');
  t.equal(p.sessionsFor('k').length, 1, 'one session stays pooled');
  t.equal(p.liveSessions, 1);
  // It is reused as before: a new stream goes on it without a dial.
  const again = p.acquire('k', ctx, dial);
  t.equal(dialled.length, 5, 'the next stream reuses the kept session');
  p.release(again);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(dialled.filter((s) => s.closed).length, 5, 'and it closes after the full idle timeout');
  t.equal(p.liveSessions, 0);
});

t.test('a session that is the only one for its key is not surplus', async (t) => {
  const dialled: FakeSession[] = [];
  const p = new SessionPool({ maxStreamsPerSession: 100, idleTimeoutMs: 300, surplusIdleTimeoutMs: 30 });
  const dial = (): ClientHttp2Session => {
    const s = new FakeSession();
    dialled.push(s);
    return s as unknown as ClientHttp2Session;
  };
  p.release(p.acquire('k', ctx, dial));
  await new Promise((r) => setTimeout(r, 120));
  t.equal(dialled[0].closed, false, 'still open past the surplus time');
  await new Promise((r) => setTimeout(r, 350));
  t.equal(dialled[0].closed, true, 'closed after the idle timeout');
});
