import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { CachingSecretManager, type Clock, type WorkloadCertificate } from '../../../agent/identity/secret-manager.ts';
import type { CsrResponse } from '../../../control/api/csr.ts';
import { WeftError } from '../../../common/errors.ts';
import { memoryLogger } from '../../../common/log.ts';

const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const root = await generateTrustAnchor({ commonName: 'root 1' });
const root2 = await generateTrustAnchor({ commonName: 'root 2' });

/** Time that moves only when the test says; timers fire in order as it passes. */
class FakeClock implements Clock {
  t = Date.now();
  #next = 1;
  timers = new Map<number, { at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  /** Delay until the earliest pending timer. */
  nextDelay(): number | undefined {
    const ats = [...this.timers.values()].map((x) => x.at);
    return ats.length === 0 ? undefined : Math.min(...ats) - this.t;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

/** A signer backed by a real LocalCa on the given clock, with switches for failure and anchors. */
function signerFor(now: () => number, ttlSeconds: number, backdateSeconds = 300) {
  const s = {
    calls: 0,
    fail: null as Error | null,
    ca: new LocalCa({ bundle: makeTrustBundle(root.anchor), now, backdateSeconds }),
    async sign(csr: string): Promise<CsrResponse> {
      s.calls++;
      if (s.fail !== null) throw s.fail;
      return s.ca.sign(csr, { ttlSeconds });
    },
  };
  return s;
}

function next<T extends unknown[]>(sm: CachingSecretManager, event: 'rotated' | 'error'): Promise<T> {
  return new Promise((resolve) => {
    const off = sm.on(event, ((...args: T) => { off(); resolve(args); }) as never);
  });
}

t.test('caches per identity and shares one CSR among concurrent gets', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 3600);
  const sm = new CachingSecretManager({ signer, clock, logger: memoryLogger() });
  t.teardown(() => sm.close());
  const all = await Promise.all([sm.get(CART), sm.get(CART), sm.get(CART), sm.get(WEB)]);
  t.equal(signer.calls, 2, 'one CSR per identity');
  t.equal(all[0], all[1]);
  t.equal(all[0], all[2]);
  t.not(all[0], all[3]);
  t.equal(await sm.get(CART), all[0], 'later get is served from the cache');
  t.equal(signer.calls, 2);
  const cert: WorkloadCertificate = all[0];
  t.equal(cert.identity, CART);
  t.equal(new X509Certificate(cert.certChainPem[0]).subjectAltName, `URI:${CART}`);
  t.ok(new X509Certificate(cert.certChainPem[0]).checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem)));
  t.same(cert.trustAnchorsPem, [root.anchor.certPem.trim()]);
  const snap = sm.snapshot();
  t.same(snap.map((s) => [s.identity, s.state]), [[CART, 'valid'], [WEB, 'valid']]);
  t.notMatch(JSON.stringify(snap), /PRIVATE KEY/, 'snapshot never holds the key');
});

t.test('rotates at half the lifetime (±10%) and emits rotated', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 100);
  for (const r of [0, 0.5, 0.999]) {
    const sm = new CachingSecretManager({ signer, clock, random: () => r, logger: memoryLogger() });
    const first = await sm.get(CART);
    const lifetime = first.notAfter.getTime() - clock.now();
    const delay = clock.nextDelay() ?? -1;
    t.ok(delay >= lifetime * 0.45 - 1 && delay <= lifetime * 0.55 + 1, `random ${r}: rotation after ${delay} ms of ${lifetime}`);
    const rotated = next<[WorkloadCertificate, WorkloadCertificate]>(sm, 'rotated');
    clock.advance(delay);
    const [cert, previous] = await rotated;
    t.equal(previous, first);
    t.not(cert.keyPem, first.keyPem, 'a fresh key with every rotation');
    t.equal(await sm.get(CART), cert);
    sm.close();
    t.equal(clock.timers.size, 0, 'close clears timers');
  }
});

t.test('with a real clock and a 2 s certificate, rotation happens before expiry', async (t) => {
  const signer = signerFor(Date.now, 2, 0);
  const sm = new CachingSecretManager({ signer, logger: memoryLogger() });
  // The manager's timers are unref'd (they never hold the process open), so the test holds it.
  const hold = setTimeout(() => {}, 10_000);
  t.teardown(() => { clearTimeout(hold); sm.close(); });
  const started = Date.now();
  const first = await sm.get(CART);
  const [cert] = await next<[WorkloadCertificate]>(sm, 'rotated');
  const at = Date.now();
  t.ok(at < first.notAfter.getTime(), 'rotated while the old cert was still valid');
  t.ok(at - started >= 300, 'not immediately');
  t.ok(cert.notAfter.getTime() > first.notAfter.getTime());
});

t.test('keeps the old cert while signing fails, retries with backoff, recovers', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 100);
  const sm = new CachingSecretManager({ signer, clock, random: () => 0.5, retry: { initialMs: 1000, maxMs: 4000 }, logger: memoryLogger() });
  t.teardown(() => sm.close());
  const first = await sm.get(CART);
  signer.fail = new WeftError('WEFT_ERR_CA_UNAVAILABLE', 'control unreachable');
  for (const expected of [1000, 2000, 4000, 4000]) {
    const failed = next<[Error, string]>(sm, 'error');
    clock.advance(clock.nextDelay() ?? 0);
    const [err, id] = await failed;
    t.equal(id, CART);
    t.equal((err as WeftError).code, 'WEFT_ERR_CA_UNAVAILABLE');
    t.equal(await sm.get(CART), first, 'old cert still served');
    t.equal(clock.nextDelay(), expected, `retry after ${expected} ms`);
  }
  t.equal(sm.snapshot()[0].failures, 4);
  t.match(sm.snapshot()[0].lastError, /control unreachable/);
  signer.fail = null;
  const rotated = next<[WorkloadCertificate]>(sm, 'rotated');
  clock.advance(clock.nextDelay() ?? 0);
  const [cert] = await rotated;
  t.not(cert, first);
  t.equal(sm.snapshot()[0].failures, 0);
});

t.test('once the old cert expires, get asks control and reports its refusal', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 10);
  const sm = new CachingSecretManager({ signer, clock, logger: memoryLogger() });
  sm.on('error', () => {});
  t.teardown(() => sm.close());
  await sm.get(CART);
  signer.fail = new WeftError('WEFT_ERR_CSR_FORBIDDEN', 'no pod');
  clock.advance(11_000);
  await new Promise((r) => setImmediate(r));
  t.equal(sm.snapshot()[0].state, 'expired');
  await t.rejects(sm.get(CART), { code: 'WEFT_ERR_CSR_FORBIDDEN' });
  signer.fail = null;
  const fresh = await sm.get(CART);
  t.ok(fresh.notAfter.getTime() > clock.now());
});

t.test('forget stops rotation; a CSR in flight during forget is not cached', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 100);
  const sm = new CachingSecretManager({ signer, clock, logger: memoryLogger() });
  t.teardown(() => sm.close());
  await sm.get(CART);
  t.equal(clock.timers.size, 1);
  sm.forget(CART);
  t.equal(clock.timers.size, 0);
  t.same(sm.snapshot(), []);
  const pending = sm.get(WEB);
  sm.forget(WEB);
  t.equal((await pending).identity, WEB, 'the waiting caller still gets its cert');
  t.same(sm.snapshot(), []);
  t.equal(clock.timers.size, 0);
  sm.close();
  await t.rejects(sm.get(CART), { code: 'WEFT_ERR_NO_IDENTITY' });
});

t.test('new trust anchors reach every cached cert; an older answer does not roll them back', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 3600);
  const sm = new CachingSecretManager({ signer, clock, logger: memoryLogger() });
  t.teardown(() => sm.close());
  const web = await sm.get(WEB);
  const stale = await signer.ca.sign((await import('../../../agent/identity/csr.ts').then((m) => m.generateCsr(CART))).csrPem, {});
  clock.advance(1000);
  signer.ca = new LocalCa({ bundle: makeTrustBundle(root.anchor, [root2.anchor.certPem]), now: () => clock.now() });
  const updated = next<[WorkloadCertificate, WorkloadCertificate]>(sm, 'rotated');
  const cart = await sm.get(CART);
  const [webNow, webBefore] = await updated;
  t.equal(webBefore, web);
  t.equal(webNow.identity, WEB);
  t.equal(webNow.trustAnchorsPem.length, 2);
  t.equal(cart.trustAnchorsPem.length, 2);
  t.equal(webNow.keyPem, web.keyPem, 'same key and chain, new anchors');
  t.notOk(sm.trustBundle.update(stale.trustAnchors, new Date(stale.notBefore)), 'older answer ignored');
  t.equal(sm.trustBundle.anchors.length, 2);
});

t.test('a failing renewal says what is at stake, louder as expiry nears; the total keeps counting', async (t) => {
  const clock = new FakeClock();
  const signer = signerFor(() => clock.now(), 100, 0);
  const log = memoryLogger();
  const sm = new CachingSecretManager({ signer, clock, random: () => 0.5, retry: { initialMs: 1000, maxMs: 4000 }, logger: log });
  t.teardown(() => sm.close());
  await sm.get(CART);
  signer.fail = new WeftError('WEFT_ERR_CA_UNAVAILABLE', 'control unreachable');
  clock.advance(clock.nextDelay() ?? 0);
  await next(sm, 'error');
  const first = log.lines.find((l) => l.code === 'WEFT_ERR_CERT_RENEWAL_FAILED');
  t.match(first, { level: 'warn', identity: CART, cause: 'WEFT_ERR_CA_UNAVAILABLE', reason: 'control unreachable', failures: 1 }, 'half the lifetime left: a warning');
  t.ok(typeof first?.expiresInSeconds === 'number' && (first.expiresInSeconds as number) > 40, `with the time left (${String(first?.expiresInSeconds)} s)`);
  // Past three quarters of the lifetime the same failure is an error.
  while (clock.now() < Date.parse(sm.snapshot()[0].notAfter ?? '') - 20_000) {
    const failed = next(sm, 'error');
    clock.advance(clock.nextDelay() ?? 0);
    await failed;
  }
  const last = log.lines.filter((l) => l.code === 'WEFT_ERR_CERT_RENEWAL_FAILED').at(-1);
  t.match(last, { level: 'error', msg: /expires soon and could not be renewed/ });
  const snap = sm.snapshot()[0];
  t.ok(snap.failuresTotal >= 3 && snap.failuresTotal === snap.failures, `failures counted (${snap.failuresTotal})`);
  signer.fail = null;
  const rotated = next(sm, 'rotated');
  clock.advance(clock.nextDelay() ?? 0);
  await rotated;
  t.equal(sm.snapshot()[0].failures, 0, 'consecutive failures reset on success');
  t.equal(sm.snapshot()[0].failuresTotal, snap.failuresTotal, 'the total does not');
});

t.test('clock skew: within the backdate it goes unnoticed; beyond it the log names the clocks', async (t) => {
  const clock = new FakeClock();
  // Control's clock 2 min ahead: the 5 min backdate covers it.
  const log = memoryLogger();
  const ahead2 = new CachingSecretManager({ signer: signerFor(() => clock.now() + 120_000, 3600), clock, logger: log });
  t.teardown(() => ahead2.close());
  await ahead2.get(CART);
  t.notOk(log.lines.some((l) => l.code === 'WEFT_ERR_CLOCK_SKEW'), 'a small skew is tolerated silently');
  // 10 min ahead: the certificate starts 5 min in this node's future.
  const log10 = memoryLogger();
  const ahead10 = new CachingSecretManager({ signer: signerFor(() => clock.now() + 600_000, 3600), clock, logger: log10 });
  t.teardown(() => ahead10.close());
  const cert = await ahead10.get(CART);
  t.ok(cert.notBefore.getTime() > clock.now(), 'not yet valid here');
  const skewLine = log10.lines.find((l) => l.code === 'WEFT_ERR_CLOCK_SKEW');
  t.match(skewLine, { level: 'error', identity: CART, msg: /not valid yet by this node's clock.*NTP/ });
  // 10 min ahead less the 5 min backdate; notBefore is whole seconds, so 299 or 300.
  t.ok(Math.abs((skewLine?.aheadSeconds as number) - 300) <= 1, `by how much (${String(skewLine?.aheadSeconds)} s)`);
  // Control so far behind that the certificate is already over when it arrives.
  const logPast = memoryLogger();
  const behind = new CachingSecretManager({ signer: signerFor(() => clock.now() - 7_200_000, 3600), clock, logger: logPast });
  t.teardown(() => behind.close());
  await behind.get(WEB).catch(() => undefined);
  t.match(logPast.lines.find((l) => l.code === 'WEFT_ERR_CLOCK_SKEW'), { level: 'error', msg: /already expired by this node's clock/ });
});
