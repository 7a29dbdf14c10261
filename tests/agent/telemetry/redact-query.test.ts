// Unit: the query redaction every output of a request's path calls (tap, access log, policy deny
// and audit lines). A table of written-out cases, then properties checked against WHATWG
// URLSearchParams as an independent reader of the query: the same parameters in the same order,
// by name, and no value survives.
import t from 'tap';
import fc from 'fast-check';
import { REDACTED, queryRedactor, redactQuery } from '../../../agent/telemetry/redact-query.ts';
import { assertProperty, runs } from '../../fuzz/fuzz.ts';

t.test('redaction keeps the path and the names, replaces every value', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['/', '/', 'no query'],
    ['/a/b', '/a/b', 'no query, longer path'],
    ['/a?', '/a?', 'an empty query'],
    ['/a?token=secret', '/a?token=REDACTED', 'one parameter'],
    ['/a?token=secret&page=2', '/a?token=REDACTED&page=REDACTED', 'every value, not only secret-looking names'],
    ['/a?x=', '/a?x=', 'an empty value stays empty'],
    ['/a?x=&y=1', '/a?x=&y=REDACTED', 'empty next to a value'],
    ['/a?abcdef123', '/a?REDACTED', 'a bare part may be a key on its own'],
    ['/a?debug&token=s', '/a?REDACTED&token=REDACTED', 'bare part and parameter'],
    ['/a?a=1&&b=2', '/a?a=REDACTED&&b=REDACTED', 'an empty part is kept as is'],
    ['/a?a=1&', '/a?a=REDACTED&', 'a trailing ampersand'],
    ['/a?=secret', '/a?=REDACTED', 'an empty name'],
    ['/a?sig=a=b=c', '/a?sig=REDACTED', 'a value with = in it, whole'],
    ['/a?q=a;token=s', '/a?q=REDACTED', 'a semicolon does not end a value'],
    ['/a?to%6Ben=x%20y', '/a?to%6Ben=REDACTED', 'an encoded name is kept byte for byte'],
    ['/p/a=b?c=d', '/p/a=b?c=REDACTED', 'an = in the path is not the query'],
    ['/a?x=1?y=2', '/a?x=REDACTED', 'a second ? is part of the value'],
    ['', '', 'empty input'],
  ];
  for (const [input, want, why] of cases) t.equal(redactQuery(input), want, `${why}: ${input}`);
  t.equal(REDACTED, 'REDACTED');
});

t.test('the setting picks redaction or the full query once', async (t) => {
  t.equal(queryRedactor('redacted')('/a?token=s'), '/a?token=REDACTED');
  t.equal(queryRedactor('full')('/a?token=s'), '/a?token=s', 'full: the operator opted in');
  const p = '/no-query';
  t.equal(redactQuery(p), p, 'no query: the same string comes back');
});

// A query written from parts the reader cannot mistake: names and values from a URL-ish alphabet
// with the separators in them sometimes, so the redactor meets `=`, `&`, `?`, `%`, `+` and `;`.
const chunk = fc.stringMatching(/^[a-zA-Z0-9%+;?=._~-]{0,12}$/);
const part = fc.oneof(
  fc.tuple(fc.stringMatching(/^[a-zA-Z0-9%+;?._~-]{0,8}$/), chunk).map(([n, v]) => `${n}=${v}`),
  fc.stringMatching(/^[a-zA-Z0-9%+;?._~-]{0,8}$/),
);
const target = fc.tuple(fc.stringMatching(/^\/[a-zA-Z0-9/%._;=-]{0,16}$/), fc.array(part, { maxLength: 6 }), fc.boolean()).map(([p, parts, q]) => (q ? `${p}?${parts.join('&')}` : p));

t.test('property: URLSearchParams reads the same parameters, and only REDACTED or empty values', async (t) => {
  assertProperty(fc.property(target, (input) => {
    const out = redactQuery(input);
    const q = input.indexOf('?');
    if (q < 0) return out === input;
    const path = input.slice(0, q);
    if (!out.startsWith(`${path}?`)) return false;
    // The leading & keeps URLSearchParams from dropping a query's own leading '?'.
    const before = [...new URLSearchParams(`&${input.slice(q + 1)}`)];
    const after = [...new URLSearchParams(`&${out.slice(q + 1)}`)];
    if (before.length !== after.length) return false;
    return before.every(([name, value], i) => {
      const [n2, v2] = after[i];
      if (v2 !== '' && v2 !== REDACTED) return false;
      // A value: the name is kept. A bare part (or `name=`): either the name with an empty value,
      // or the whole part redacted.
      if (value !== '') return n2 === name && v2 === REDACTED;
      return (n2 === name && v2 === '') || (n2 === REDACTED && v2 === '') || (name === '' && n2 === '');
    });
  }), runs(3000));
  t.pass('held');
});

t.test('property: a secret put in any parameter value never comes out', async (t) => {
  const secret = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/);
  assertProperty(fc.property(target, secret, fc.nat(6), (base, s, at) => {
    const q = base.indexOf('?');
    const parts = q < 0 ? [] : base.slice(q + 1).split('&');
    parts.splice(at % (parts.length + 1), 0, `token=${s}`);
    const path = q < 0 ? base : base.slice(0, q);
    const input = `${path}?${parts.join('&')}`;
    // The path itself never holds the secret (it is made from a smaller alphabet run).
    return !redactQuery(input).includes(s);
  }), runs(3000));
  t.pass('held');
});
