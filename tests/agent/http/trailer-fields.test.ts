// The rule for trailer fields, requests and responses alike (agent/http/trailer-fields.ts), as a table written from
// RFC 9110 §6.5.1 (what cannot be processed after the content), RFC 9110 §7.6.1 / RFC 9113
// §8.2.2 (hop-by-hop) and RFC 9113 §8.1 (no pseudo-headers in trailers), field by field, not
// copied from the implementation's set. Plain unit test: no sockets.
import t from 'tap';
import { appendTrailerFields, mayForwardTrailer, trailerFields } from '../../../agent/http/trailer-fields.ts';

const TABLE: [name: string, forwarded: boolean, why: string][] = [
  // end-to-end metadata that only exists once the body was sent: forwarded
  ['x-checksum-sha256', true, 'an application checksum'],
  ['digest', true, 'a content digest (RFC 3230)'],
  ['content-digest', true, 'RFC 9530 names it as a trailer use'],
  ['grpc-status', true, 'gRPC metadata'],
  ['grpc-message', true, 'gRPC metadata'],
  ['server-timing', true, 'allowed as a trailer'],
  ['x-weft-user', true, 'only the mesh hop fields are reserved, not the prefix with an x-'],
  // pseudo-headers (RFC 9113 §8.1)
  [':path', false, 'pseudo-header'],
  [':authority', false, 'pseudo-header'],
  [':method', false, 'pseudo-header'],
  [':status', false, 'pseudo-header'],
  // hop-by-hop (RFC 9110 §7.6.1, RFC 9113 §8.2.2)
  ['connection', false, 'hop-by-hop'],
  ['keep-alive', false, 'hop-by-hop'],
  ['proxy-connection', false, 'hop-by-hop'],
  ['upgrade', false, 'hop-by-hop'],
  ['te', false, 'hop-by-hop, and a request modifier'],
  ['http2-settings', false, 'hop-by-hop'],
  // framing
  ['content-length', false, 'framing'],
  ['transfer-encoding', false, 'framing'],
  // routing, and the hop between agents
  ['host', false, 'routing'],
  ['weft-target', false, 'the hop\'s endpoint'],
  ['weft-proto', false, 'the hop\'s protocol'],
  ['weft-retry-attempt', false, 'the hop\'s replay count'],
  ['weft-timeout', false, 'the hop\'s deadline'],
  ['weft-error', false, 'the mesh\'s failure label'],
  // request modifiers: controls and conditionals
  ['cache-control', false, 'control'],
  ['expect', false, 'control'],
  ['max-forwards', false, 'control'],
  ['pragma', false, 'control'],
  ['range', false, 'control'],
  ['if-match', false, 'conditional'],
  ['if-none-match', false, 'conditional'],
  ['if-modified-since', false, 'conditional'],
  ['if-unmodified-since', false, 'conditional'],
  ['if-range', false, 'conditional'],
  // authentication and session state
  ['authorization', false, 'authentication'],
  ['proxy-authorization', false, 'authentication'],
  ['cookie', false, 'session state'],
  ['set-cookie', false, 'session state'],
  ['www-authenticate', false, 'authentication'],
  ['proxy-authenticate', false, 'authentication'],
  // how to process the content
  ['content-type', false, 'content format'],
  ['content-encoding', false, 'content format'],
  ['content-range', false, 'content format'],
  ['trailer', false, 'the Trailer field itself'],
];

t.test('each field name: forwarded as a trailer or not', async (t) => {
  for (const [name, forwarded, why] of TABLE) t.equal(mayForwardTrailer(name), forwarded, `${name}: ${why}`);
});

t.test('a section keeps the allowed fields, counts the dropped ones', async (t) => {
  const v = trailerFields({ 'x-checksum': 'abc', 'content-length': '5', authorization: 'Bearer x', 'x-list': ['1', '2'], host: 'evil' });
  t.same(v.forward, { 'x-checksum': 'abc', 'x-list': ['1', '2'] });
  t.equal(v.dropped, 3);
});

t.test('a section of dropped fields only forwards nothing', async (t) => {
  const v = trailerFields({ 'weft-target': '10.0.0.1:80', te: 'trailers' });
  t.equal(v.forward, undefined);
  t.equal(v.dropped, 2);
});

t.test('no section, or an empty one: nothing to forward, and the same shared answer (no object per request)', async (t) => {
  const a = trailerFields(undefined);
  const b = trailerFields({});
  t.equal(a.forward, undefined);
  t.equal(a.dropped, 0);
  t.equal(a, b, 'one shared verdict');
});

t.test('the list form: the same fields in order, repeated values as repeated fields, the dropped ones counted', async (t) => {
  const list = ['kept', 'before'];
  const dropped = appendTrailerFields(list, { 'grpc-status': '0', 'content-length': '5', 'x-list': ['1', '2'], 'set-cookie': ['a=1'], 'weft-error': 'x', 'grpc-message': 'ok' });
  t.same(list, ['kept', 'before', 'grpc-status', '0', 'x-list', '1', 'x-list', '2', 'grpc-message', 'ok']);
  t.equal(dropped, 3);
  t.equal(appendTrailerFields(list, {}), 0, 'an empty section appends nothing');
  t.equal(list.length, 10);
});
