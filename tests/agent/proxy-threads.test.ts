// ProxyThreads, the main thread's side of the proxies, against fake proxies (a fake is the point
// here: what a proxy answers, when, or not at all, is the input; real worker threads and the
// inline proxy are exercised by tests/e2e/inline-proxy.test.ts and mesh-lifecycle.test.ts).
import t from 'tap';
import { loadAgentConfig } from '../../agent/config.ts';
import { ProxyThreads, type ProxyThreadsOptions } from '../../agent/proxy-threads.ts';
import type { ProxyThread } from '../../agent/proxy-thread.ts';
import { ProxyStats, type StatsJson } from '../../agent/proxy/stats.ts';
import type { FromWorker, ToWorker, WorkerInit } from '../../agent/worker-protocol.ts';
import type { WorkloadCertificate } from '../../agent/identity/tls-contexts.ts';
import { createLogger } from '../../common/log.ts';
import { GuardedSink } from '../../common/log-sink.ts';

/** A proxy that records what it is sent and answers as its test says. */
class FakeProxy implements ProxyThread {
  readonly inline = false;
  readonly sent: ToWorker[] = [];
  answer: ((m: ToWorker, reply: (f: FromWorker) => void) => void) | null = null;
  exitOnDrain = true;
  terminated = false;
  #onMessage: ((m: FromWorker) => void) | null = null;
  #onError: ((e: Error) => void) | null = null;
  #onExit: (() => void)[] = [];

  postMessage(m: ToWorker): void {
    this.sent.push(m);
    if (m.type === 'drain' && this.exitOnDrain) setImmediate(() => { for (const f of this.#onExit) f(); });
    this.answer?.(m, (f) => setImmediate(() => this.#onMessage?.(f)));
  }
  onMessage(l: (m: FromWorker) => void): void { this.#onMessage = l; }
  onError(l: (e: Error) => void): void { this.#onError = l; }
  onceExit(l: () => void): void { this.#onExit.push(l); }
  async terminate(): Promise<void> { this.terminated = true; }
  async heap(): Promise<null> { return null; }
  emit(m: FromWorker): void { this.#onMessage?.(m); }
  crash(e: Error): void { this.#onError?.(e); }
}

// The gathering and drain timers are unref'd (they must not hold an agent up): something must
// keep this test's process alive while they run, as the agent's servers do.
const keepAlive = setInterval(() => {}, 60_000);
t.teardown(() => clearInterval(keepAlive));

const log = createLogger('test', { write: () => true });
// Never written to: the fake proxies have no output.
const sink = new GuardedSink('stdout', process.stdout);

function threads(n: number, over: Partial<ProxyThreadsOptions> = {}): { pt: ProxyThreads; fakes: FakeProxy[]; inits: WorkerInit[] } {
  const fakes: FakeProxy[] = [];
  const inits: WorkerInit[] = [];
  const pt = new ProxyThreads({
    cfg: loadAgentConfig((k) => ({ WEFT_NODE_NAME: 'n1' } as Record<string, string>)[k]),
    layout: { inline: false, count: n },
    entry: new URL('file:///nowhere.mjs'),
    env: { A: '1' },
    tapFlag: new Int32Array(1),
    sinks: { stdout: sink, stderr: sink },
    log,
    certificate: async () => { throw Object.assign(new Error('no such identity'), { code: 'WEFT_ERR_TEST' }); },
    onTap: () => {},
    onPodsSynced: () => {},
    initialState: () => null,
    gatherMs: 200,
    start: (init) => {
      inits.push(init);
      const f = new FakeProxy();
      fakes.push(f);
      return f;
    },
    ...over,
  });
  return { pt, fakes, inits };
}

/** One proxy's stats with `rejected` connections (the field the sum is checked on). */
function stats(rejected: number): StatsJson {
  const p = new ProxyStats();
  p.rejected = rejected;
  return p.toJSON();
}

t.test('listening: resolves once every proxy listens; each proxy gets its index and the env', async (t) => {
  const { pt, fakes, inits } = threads(3);
  t.same(inits.map((i) => i.index), [0, 1, 2]);
  t.same(inits[0].env, { A: '1' });
  let done = false;
  void pt.listening.then(() => { done = true; });
  fakes[0].emit({ type: 'listening' });
  fakes[2].emit({ type: 'listening' });
  await new Promise((r) => setImmediate(r));
  t.notOk(done, 'two of three is not listening');
  fakes[1].emit({ type: 'listening' });
  await pt.listening;
  t.equal(pt.count, 3);
});

t.test('listening: a proxy that cannot listen rejects it with its code; a crash sets fatal', async (t) => {
  const { pt, fakes } = threads(2);
  fakes[1].emit({ type: 'listen-failed', code: 'EADDRINUSE', message: 'port 15001 taken' });
  await t.rejects(pt.listening, { code: 'EADDRINUSE', message: /proxy worker 1 could not listen: port 15001 taken/ });
  const b = threads(1);
  b.fakes[0].crash(new Error('heap out of memory'));
  await t.rejects(b.pt.listening, /heap out of memory/);
  t.equal(b.pt.fatal?.message, 'heap out of memory');
});

t.test('the initial state goes to each proxy as it starts, when there is one', async (t) => {
  const st: ToWorker = { type: 'state', reset: true, version: 7, upserts: [], removes: [] };
  const { fakes } = threads(2, { initialState: () => st });
  t.same(fakes.map((f) => f.sent), [[st], [st]]);
});

t.test('a certificate request is answered, a failed one with its code', async (t) => {
  const cert = { identity: 'spiffe://t/ns/a/sa/b' } as unknown as WorkloadCertificate;
  const { fakes } = threads(1, { certificate: async (id) => (id === 'good' ? cert : Promise.reject(Object.assign(new Error('denied'), { code: 'WEFT_ERR_CSR' }))) });
  fakes[0].emit({ type: 'cert-request', reqId: 1, identity: 'good' });
  fakes[0].emit({ type: 'cert-request', reqId: 2, identity: 'bad' });
  await new Promise((r) => setTimeout(r, 10));
  t.same(fakes[0].sent, [
    { type: 'cert', reqId: 1, cert },
    { type: 'cert', reqId: 2, error: { code: 'WEFT_ERR_CSR', message: 'denied' } },
  ]);
});

t.test('stats are summed over every proxy; one that never answers costs the bound, not the answer', async (t) => {
  const { pt, fakes } = threads(3);
  fakes[0].answer = (m, reply) => { if (m.type === 'stats-request') reply({ type: 'stats', reqId: m.reqId, stats: stats(5) }); };
  fakes[1].answer = (m, reply) => { if (m.type === 'stats-request') reply({ type: 'stats', reqId: m.reqId, stats: stats(7) }); };
  // fakes[2] never answers.
  const t0 = Date.now();
  const s = await pt.stats();
  t.ok(Date.now() - t0 >= 190, 'waited for the bound');
  t.equal(s.rejected, 12);
  fakes[2].answer = (m, reply) => { if (m.type === 'stats-request') reply({ type: 'stats', reqId: m.reqId, stats: stats(1) }); };
  const t1 = Date.now();
  t.equal((await pt.stats()).rejected, 13);
  t.ok(Date.now() - t1 < 190, 'all answered: no wait for the bound');
});

t.test('a late answer to an earlier gathering does not leak into the next', async (t) => {
  const { pt, fakes } = threads(1);
  let first: number | undefined;
  fakes[0].answer = (m) => { if (m.type === 'policy-stats-request') first ??= m.reqId; };
  t.same(await pt.policyStats(), []);
  fakes[0].emit({ type: 'policy-stats', reqId: first ?? 0, stats: { version: 1, counters: {} as never, live: 9 } });
  fakes[0].answer = (m, reply) => { if (m.type === 'policy-stats-request') reply({ type: 'policy-stats', reqId: m.reqId, stats: { version: 2, counters: {} as never, live: 1 } }); };
  const ws = await pt.policyStats();
  t.same(ws.map((w) => w.version), [2]);
});

t.test('drain: every proxy told; waits for their exits, then terminates; a proxy that never exits costs drainMs + 1 s', async (t) => {
  const a = threads(2);
  await a.pt.drain(5000);
  t.ok(a.fakes.every((f) => f.sent.some((m) => m.type === 'drain') && f.terminated));
  const b = threads(1);
  b.fakes[0].exitOnDrain = false;
  const t0 = Date.now();
  await b.pt.drain(100);
  t.ok(Date.now() - t0 >= 1000, 'waited drainMs + 1 s');
  t.ok(b.fakes[0].terminated);
});
