// Path normalisation (common/path-normalize.ts) and what it means for policy, over random paths
// and encodings. The oracles are independent of the code under test:
//   - a reference normaliser written here from RFC 3986: §2.3 (unreserved), §6.2.2.1/.2 (case and
//     decoding of escapes) and the §5.2.4 remove_dot_segments algorithm step by step (input and
//     output buffers, rules A–E), with the refusals as regular expressions;
//   - WHATWG URL (`new URL()`), on the paths where the two agree: names of unreserved characters
//     and dot segments in any escaping (WHATWG does not decode %61 or merge slashes).
// And for policy: a DENY on a prefix or an exact path is never evaded by any random mix of the
// tricks (slashes, dot segments, escapes, case with ignoreCase, parameters, a trailing slash),
// while paths outside it stay allowed.
import t from 'tap';
import fc from 'fast-check';
import { normalizePath, type PathNormalization, type PathRefusal } from '../../common/path-normalize.ts';
import { compileWorkload } from '../../agent/policy/compile.ts';
import { evaluate, type ConnectionContext } from '../../agent/policy/evaluate.ts';
import type { PolicyPathMatch, PolicyRecord, WorkloadRecord } from '../../control/api/model.ts';
import { assertProperty, corpus, runs } from './fuzz.ts';

const RUNS = runs(3000);
const MODES: PathNormalization[] = ['base', 'merge-slashes', 'decode-and-merge-slashes'];

// ---- the reference ----

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Which refusals apply to a path (the code under test must name one of them). */
function referenceRefusals(path: string, mode: PathNormalization): PathRefusal[] {
  const out: PathRefusal[] = [];
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) out.push('bad_escape');
  if (/%00/.test(path) || path.includes('\u0000')) out.push('nul');
  if (/%c[01]|%e0%[89][0-9a-f]|%f0%8[0-9a-f]/i.test(path)) out.push('overlong_utf8');
  if (mode !== 'decode-and-merge-slashes') {
    if (/%2f/i.test(path)) out.push('encoded_slash');
    if (/%5c/i.test(path)) out.push('encoded_backslash');
    if (path.includes('\\')) out.push('backslash');
  }
  return out;
}

/** RFC 3986 §5.2.4, as written: an input buffer consumed by rules A–E into an output buffer. */
function removeDotSegments(input: string): string {
  let inp = input;
  let out = '';
  while (inp.length > 0) {
    if (inp.startsWith('../')) inp = inp.slice(3); // A
    else if (inp.startsWith('./')) inp = inp.slice(2); // A
    else if (inp.startsWith('/./')) inp = inp.slice(2); // B: "/./" → "/"
    else if (inp === '/.') inp = '/'; // B
    else if (inp.startsWith('/../') || inp === '/..') { // C
      inp = inp === '/..' ? '/' : inp.slice(3);
      const cut = out.lastIndexOf('/');
      out = cut < 0 ? '' : out.slice(0, cut);
    } else if (inp === '.' || inp === '..') inp = ''; // D
    else { // E: the first segment, with its leading "/" if any, moves to the output
      const next = inp.indexOf('/', 1);
      const seg = next < 0 ? inp : inp.slice(0, next);
      out += seg;
      inp = inp.slice(seg.length);
    }
  }
  return out;
}

/** The whole normalisation by the reference, or 'refused'. */
function reference(target: string, mode: PathNormalization): string | 'refused' {
  if (target.charCodeAt(0) !== 0x2f) return target;
  const q = target.indexOf('?');
  let path = q < 0 ? target : target.slice(0, q);
  if (referenceRefusals(path, mode).length > 0) return 'refused';
  if (mode === 'decode-and-merge-slashes') path = path.replace(/%2f|%5c|\\/gi, '/');
  path = path.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => {
    const c = String.fromCharCode(parseInt(h, 16));
    return UNRESERVED.test(c) ? c : `%${h.toUpperCase()}`;
  });
  if (mode !== 'base') path = path.replace(/\/{2,}/g, '/');
  if (path.split('/').some((s) => /^\.\.?;/.test(s))) return 'refused';
  return removeDotSegments(path) + (q < 0 ? '' : target.slice(q));
}

// ---- generators ----

const nameChar = fc.constantFrom(...'abcAZ09-_~'.split(''));
const name = fc.array(nameChar, { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
const dots = fc.constantFrom('.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2E%2e');
/** A segment of any shape, including every trick and ambiguity. */
const anySegment = fc.oneof(
  name, dots, fc.constant(''), fc.constant('admin'),
  fc.constantFrom('%61', '%41dmin', '%7e', '%7E', '%2d', '%c3%a9', '%C3%A9', '%20', '%25', '%252F', '%3B'),
  fc.constantFrom('%2f', '%2F', '%5c', '%5C', 'a\\b', '\\', '%00', '%c0%af', '%C1%9C', '%e0%80%ae', '%f0%80%80%af', '%e0%a4%85', '%zz', '%4', '%'),
  fc.constantFrom('..;', '.;x', 'a;x', ';', 'a;b=c'),
);
const anyPath = fc.tuple(fc.array(anySegment, { maxLength: 7 }), fc.option(fc.constantFrom('?', '?a=1', '?x=/../%2F', '?%zz'), { nil: undefined }))
  .map(([segs, q]) => `/${segs.join('/')}${q ?? ''}`);
/** Paths WHATWG URL and RFC 3986 read alike: names, empty segments and dot segments however escaped. */
const whatwgPath = fc.array(fc.oneof(name, dots, fc.constant('')), { maxLength: 7 }).map((segs) => `/${segs.join('/')}`);

const corpusInputs = corpus<string>('path-normalize');

t.test('corpus: every kept input agrees with the reference in every mode', async (t) => {
  for (const { input, note } of corpusInputs) {
    for (const mode of MODES) {
      const got = normalizePath(input, mode);
      t.equal(typeof got === 'string' ? got : 'refused', reference(input, mode), `${mode} ${JSON.stringify(input)}: ${note}`);
    }
  }
});

t.test('total, and equal to the RFC 3986 reference in every mode (refusals with a reason the reference sees)', async (t) => {
  assertProperty(fc.property(anyPath, fc.constantFrom(...MODES), (p, mode) => {
    const got = normalizePath(p, mode);
    const want = reference(p, mode);
    if (typeof got !== 'string') {
      if (want !== 'refused') return false;
      const reasons = referenceRefusals(p.split('?')[0], mode);
      return reasons.length === 0 ? got.refused === 'dot_segment_params' : reasons.includes(got.refused);
    }
    return got === want;
  }), RUNS);
  t.pass(`${RUNS} paths`);
});

t.test('agrees with WHATWG URL where the two read paths alike (base mode; merge modes after merging)', async (t) => {
  assertProperty(fc.property(whatwgPath, (p) => {
    const whatwg = new URL(`http://h${p}`).pathname;
    const merged = new URL(`http://h${p.replace(/\/{2,}/g, '/')}`).pathname;
    return normalizePath(p, 'base') === whatwg && normalizePath(p, 'merge-slashes') === merged;
  }), RUNS);
  t.pass(`${RUNS} paths`);
});

t.test('idempotent, and the output is normal: no "//", dot segments, backslashes, escaped unreserved or lower-case escapes', async (t) => {
  assertProperty(fc.property(anyPath, fc.constantFrom<PathNormalization>('merge-slashes', 'decode-and-merge-slashes'), (p, mode) => {
    const got = normalizePath(p, mode);
    if (typeof got !== 'string') return true;
    const path = got.split('?')[0];
    return normalizePath(got, mode) === got && !path.includes('//') && !path.includes('\\') && !/%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E)/i.test(path) &&
      !/%[0-9A-F]?[a-f]/.test(path) && path.split('/').every((s) => s !== '.' && s !== '..') && new URL(`http://h${path}`).pathname === path;
  }), RUNS);
  t.pass(`${RUNS} paths`);
});

// ---- policy: the DENY cannot be evaded ----

const workload: WorkloadRecord = {
  kind: 'workload', key: 'demo/server', uid: 'u', name: 'server', namespace: 'demo', node: 'n1', ip: '10.0.0.9',
  serviceAccount: 'server', identity: 'spiffe://cluster.local/ns/demo/sa/server', labels: { app: 'server' }, meshed: true, ready: true,
};
const ctx: ConnectionContext = { sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/web', sourceAddress: '10.0.0.5', destination: workload.key, destinationIdentity: workload.identity, port: 8080, transport: 'hbone' };
const denyPolicy = (m: PolicyPathMatch): PolicyRecord => ({ kind: 'policy', key: 'demo/deny', name: 'deny', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' }, rules: [{ from: [], to: [{ paths: [m] }] }] });

/** One request through what the agent does: normalise (default mode), then evaluate. */
function decide(m: PolicyPathMatch, target: string): 'refused' | 'denied' | 'allowed' {
  const n = normalizePath(target, 'merge-slashes');
  if (typeof n !== 'string') return 'refused';
  return evaluate(compileWorkload(workload, [denyPolicy(m)], [], () => undefined), ctx, { method: 'GET', path: n, headers: {} }).allowed ? 'allowed' : 'denied';
}

/** Writes one path in a random way an app server would still read as that path. */
const disguise = (path: string, ignoreCase: boolean): fc.Arbitrary<string> => {
  const segs = path.split('/').slice(1);
  return fc.tuple(
    ...segs.map((seg) => fc.record({
      before: fc.constantFrom('', '/', './', 'junk/../', '%2e/', 'a/b/../../', '/./'),
      chars: fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()), { minLength: seg.length, maxLength: seg.length }),
    }).map(({ before, chars }) => before + [...seg].map((c, i) => {
      const [escape, lower, flip] = chars[i];
      const ch = ignoreCase && flip ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c;
      if (!escape) return ch;
      const hex = ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
      return `%${lower ? hex.toLowerCase() : hex}`;
    }).join(''))),
  ).map((parts) => `/${parts.join('/')}`);
};

const ruleValue = fc.array(fc.constantFrom('admin', 'api', 'v1', 'a-b', 'x_y', '~u'), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);

const prefixCase = fc.tuple(ruleValue, fc.boolean(), fc.constantFrom('', '/x', '/x/y', '-more'), fc.constantFrom('', '?q=1', '?a=/../b'))
  .chain(([value, ignoreCase, rest, q]) => disguise(value + rest, ignoreCase).map((p) => ({ value, ignoreCase, target: p + q })));
const exactCase = fc.tuple(ruleValue, fc.boolean(), fc.constantFrom('', '/', ';x', ';jsessionid=1', '/;y', '?q=1'))
  .chain(([value, ignoreCase, extra]) => disguise(value, ignoreCase).map((p) => ({ value, ignoreCase, target: p + extra })));

t.test('a prefix DENY is never evaded: every disguise of a path under it is denied or refused', async (t) => {
  let denied = 0;
  assertProperty(fc.property(prefixCase, ({ value, ignoreCase, target }) => {
    const d = decide(ignoreCase ? { type: 'prefix', value, ignoreCase: true } : { type: 'prefix', value }, target);
    if (d === 'denied') denied++;
    return d !== 'allowed';
  }), RUNS);
  t.ok(denied > RUNS / 4, `not vacuous: ${denied} disguised requests reached policy and were denied there`);
});

t.test('an exact DENY is never evaded, with a trailing slash or segment parameters added too', async (t) => {
  let denied = 0;
  assertProperty(fc.property(exactCase, ({ value, ignoreCase, target }) => {
    const d = decide(ignoreCase ? { type: 'exact', value, ignoreCase: true } : { type: 'exact', value }, target);
    if (d === 'denied') denied++;
    return d !== 'allowed';
  }), RUNS);
  t.ok(denied > RUNS / 4, `not vacuous: ${denied} denied by policy`);
});

t.test('and it denies nothing else: a random path the reference puts outside the rule is allowed', async (t) => {
  let allowed = 0;
  assertProperty(fc.property(ruleValue, fc.constantFrom<'exact' | 'prefix'>('exact', 'prefix'), anyPath, (value, type, p) => {
    const ref = reference(p, 'merge-slashes');
    if (ref === 'refused') return decide({ type, value }, p) === 'refused';
    // Outside: the reference path, with parameters stripped, neither starts with (prefix) nor is (exact) the value.
    const stripped = ref.split('?')[0].split('/').map((s) => s.split(';')[0]).join('/');
    const inside = type === 'prefix' ? stripped.startsWith(value) : stripped === value || stripped === `${value}/`;
    const d = decide({ type, value }, p);
    if (!inside && d === 'allowed') allowed++;
    return inside ? d === 'denied' : d === 'allowed';
  }), RUNS);
  t.ok(allowed > RUNS / 4, `not vacuous: ${allowed} paths outside the rule allowed`);
});
