// Header lists ↔ header objects (agent/h2/header-object.ts): the shapes node:http2 hands the L7
// stages, so both engines look the same to them. The oracle for the received side is node:http2
// itself where it has a rule (set-cookie array, cookie joined with "; ", :status a number); the
// rest is RFC 9110 §5.3 (repeats joined with ", ") and RFC 9113 §8.3 (pseudo-headers first).
import t from 'tap';
import fc from 'fast-check';
import { headersToObject, joinedValue, objectToHeaders } from '../../../agent/h2/header-object.ts';

t.test('received lists become objects', async (t) => {
  const cases: Array<[string, string[], Record<string, unknown>]> = [
    ['a response head', [':status', '200', 'content-type', 'text/plain'], { ':status': 200, 'content-type': 'text/plain' }],
    ['repeated fields joined with a comma', ['accept', 'a', 'accept', 'b'], { accept: 'a, b' }],
    ['cookies joined with a semicolon (RFC 9113 §8.2.3)', ['cookie', 'a=1', 'cookie', 'b=2'], { cookie: 'a=1; b=2' }],
    ['set-cookie always an array', ['set-cookie', 'a=1'], { 'set-cookie': ['a=1'] }],
    ['repeated set-cookie kept apart', ['set-cookie', 'a=1', 'set-cookie', 'b=2'], { 'set-cookie': ['a=1', 'b=2'] }],
    ['a request head keeps its pseudo-headers as strings', [':method', 'GET', ':path', '/x', ':authority', 'a:1'], { ':method': 'GET', ':path': '/x', ':authority': 'a:1' }],
    ['nothing', [], {}],
  ];
  for (const [name, list, want] of cases) t.same({ ...headersToObject(list) }, want, name);
});

t.test('objects to send become lists, pseudo-headers first', async (t) => {
  const cases: Array<[string, Record<string, string | string[] | number | undefined>, string[]]> = [
    ['status first even when listed last', { 'content-type': 'a', ':status': 200 }, [':status', '200', 'content-type', 'a']],
    ['names lowercased', { 'X-Thing': 'v' }, ['x-thing', 'v']],
    ['arrays as repeated fields', { 'set-cookie': ['a=1', 'b=2'] }, ['set-cookie', 'a=1', 'set-cookie', 'b=2']],
    ['undefined skipped', { a: undefined, b: '1' }, ['b', '1']],
    ['a request', { ':method': 'POST', host: 'h', ':path': '/p', ':scheme': 'http' }, [':method', 'POST', ':path', '/p', ':scheme', 'http', 'host', 'h']],
  ];
  for (const [name, obj, want] of cases) t.same(objectToHeaders(obj), want, name);
});

t.test('joinedValue reads a regular field as the object would have it, with no object', async (t) => {
  // Names from a small set so repeats are common; Cookie and Set-Cookie are outside its contract.
  const name = fc.constantFrom('content-length', 'grpc-status', 'weft-error', 'x-a', 'accept');
  const value = fc.string({ maxLength: 6 });
  fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), name, (pairs, asked) => {
    const list = pairs.flat();
    return joinedValue(list, asked) === (headersToObject(list) as Record<string, unknown>)[asked];
  }));
  t.equal(joinedValue(['content-length', '5', 'content-length', '5'], 'content-length'), '5, 5', 'repeats joined, as the object does');
});
