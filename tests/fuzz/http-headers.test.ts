// HTTP header and request-target handling on the L7 path. endToEnd (agent/http/headers.ts)
// decides what crosses a hop; originForm (agent/http/request-target.ts) what path routes and
// policy see; classifyClientError (common/http-client-error.ts) what a parser refusal is answered
// with. What must hold, for any input:
//   - no hop-by-hop header, nothing the Connection header names, no pseudo-header and none of
//     the mesh's own hop headers ever crosses; every other header crosses unchanged; `te` only
//     ever as "trailers";
//   - a target routes and is authorized as the same origin-form path the app server will see:
//     whatever originForm returns starts with "/" (or is "*") and has no spaces, controls or
//     fragment, and an absolute-form target yields its own path and authority;
//   - every llhttp refusal gets a 4xx answer with a stable code; resets get none.
import t from 'tap';
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { appendEndToEnd, endToEnd, PROTO_HEADER, RETRY_HEADER, TARGET_HEADER } from '../../agent/http/headers.ts';
import { isOriginForm, originForm } from '../../agent/http/request-target.ts';
import { classifyClientError } from '../../common/http-client-error.ts';
import { assertProperty, corpus, runs } from './fuzz.ts';

const RUNS = runs(3000);
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings', TARGET_HEADER, PROTO_HEADER];
const token = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const name = fc.oneof(token, fc.constantFrom(...HOP, 'te', RETRY_HEADER, ':path', ':authority', 'content-length', 'x-forwarded-for'));
const value = fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 }));
const headers = fc.tuple(fc.dictionary(name, value, { maxKeys: 12 }), fc.array(name, { maxLength: 4 }), fc.constantFrom(' , ', ',', ', ', ' ,'))
  .map(([h, named, sep]) => {
    const out: Record<string, string | string[]> = { ...h };
    if (named.length > 0) out.connection = named.map((n) => (n.length % 2 === 0 ? n.toUpperCase() : n)).join(sep);
    return out as IncomingHttpHeaders;
  });

t.test('endToEnd: only end-to-end headers cross, unchanged', async (t) => {
  assertProperty(fc.property(headers, fc.boolean(), (h, keepRetry) => {
    const out = endToEnd(h, keepRetry);
    const named = typeof h.connection === 'string' ? h.connection.toLowerCase().split(',').map((s) => s.trim()) : [];
    for (const k of Object.keys(out)) {
      if (k === 'te') {
        if (out.te !== 'trailers') return false;
        continue;
      }
      if (k.startsWith(':') || HOP.includes(k) || named.includes(k)) return false;
      if (k === RETRY_HEADER && !keepRetry) return false;
      if (out[k] !== h[k]) return false;
    }
    for (const k of Object.keys(h)) {
      const dropped = k.startsWith(':') || HOP.includes(k) || named.includes(k) || k === 'te' || (k === RETRY_HEADER && !keepRetry);
      if (!dropped && out[k] === undefined) return false;
    }
    return true;
  }), RUNS);
  t.pass(`${RUNS} header sets`);
});

t.test('appendEndToEnd: the same rule as a flat list, arrays as repeated fields, in order', async (t) => {
  assertProperty(fc.property(headers, fc.boolean(), (h, keepRetry) => {
    const list = appendEndToEnd([':status', '200'], h, keepRetry);
    if (list[0] !== ':status' || list[1] !== '200') return false;
    const named = typeof h.connection === 'string' ? h.connection.toLowerCase().split(',').map((s) => s.trim()) : [];
    // What should cross, written from the rule (not from the code): every other field, each array value once, in order.
    const want: string[] = [];
    for (const [k, v] of Object.entries(h)) {
      const dropped = k.startsWith(':') || HOP.includes(k) || named.includes(k) || k === 'te' || (k === RETRY_HEADER && !keepRetry);
      if (dropped || v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) want.push(k, one);
    }
    const te = typeof h.te === 'string' && h.te.split(',').some((x) => x.trim().toLowerCase() === 'trailers');
    if (te) want.push('te', 'trailers');
    const got = list.slice(2);
    return got.length === want.length && got.every((x, i) => x === want[i]);
  }), RUNS);
  t.pass(`${RUNS} header sets`);
});

const pathChars = fc.string({ unit: fc.constantFrom('a', 'b', '/', '?', '=', '&', '%', '.', ':', '@', '#', ' ', '\t', '\u0000', '\u007f', 'é', '*'), maxLength: 24 });
const target = fc.oneof(
  pathChars,
  pathChars.map((p) => `/${p}`),
  fc.tuple(fc.constantFrom('http://', 'https://', 'HTTP://', 'ftp://', '//'), fc.oneof(fc.domain(), fc.constant('u@h'), fc.constant('')), pathChars).map(([s, h, p]) => `${s}${h}${p}`),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
);

t.test('corpus: kept targets keep their answers', async (t) => {
  for (const e of corpus<string>('request-target')) {
    const r = originForm(e.input);
    t.equal(r === null ? 'refused' : `${r.authority ?? ''}${r.path}`, e.note.split(': ')[0], e.note);
  }
});

t.test('originForm: a clean origin-form path or a refusal', async (t) => {
  assertProperty(fc.property(target, (x) => {
    const r = originForm(x);
    if (r === null) return !isOriginForm(x) || x === '*';
    if (r.path !== '*' && !isOriginForm(r.path)) return false;
    // An origin-form input is passed as it is; an absolute one keeps its own authority.
    if (x.startsWith('/')) return r.path === x && r.authority === undefined;
    if (r.path === '*') return x === '*';
    return r.authority !== undefined && !r.authority.includes('@') && x.toLowerCase().includes(r.authority.toLowerCase());
  }), RUNS);
  assertProperty(fc.property(fc.domain(), fc.webPath(), (host, path) => {
    const p = path === '' ? '/' : path;
    const r = originForm(`http://${host}${p}`);
    return r !== null && r.authority === host && r.path === p;
  }), RUNS);
  t.pass(`${RUNS * 2} targets`);
});

t.test('classifyClientError: parser refusals get a 4xx and a code, resets nothing', async (t) => {
  const codes = fc.oneof(fc.constantFrom('HPE_INVALID_METHOD', 'HPE_HEADER_OVERFLOW', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'ERR_HTTP_REQUEST_TIMEOUT', 'ECONNRESET', 'EPIPE'), fc.string({ maxLength: 12 }).map((s) => `HPE_${s}`), fc.string({ maxLength: 12 }));
  assertProperty(fc.property(codes, (code) => {
    const a = classifyClientError(Object.assign(new Error('x'), { code }));
    const isBad = code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!isBad) return a === null;
    return a !== null && /^4\d\d /.test(a.status) && a.code.startsWith('WEFT_ERR_');
  }), RUNS);
  t.equal(classifyClientError(null), null, 'null is no error');
  t.equal(classifyClientError('HPE_X'), null, 'a bare string has no code');
  t.pass(`${RUNS} error codes`);
});
