// The hop rule on a header list (appendEndToEndList, agent/http/headers.ts): what of a received
// list crosses this hop, list to list. A table of lists and the exact results, written out by hand
// from RFC 9110 §7.6.1 (hop-by-hop fields and what Connection names stop here) and the mesh's
// own hop fields (headers.ts), not computed by the object form.
import t from 'tap';
import { appendEndToEndList } from '../../../agent/http/headers.ts';

const cases: { name: string; src: string[]; keepRetry: boolean; want: string[] }[] = [
  { name: 'end-to-end fields in order, repeats repeated', src: ['accept', '*/*', 'cookie', 'a=1', 'x', '1', 'cookie', 'b=2'], keepRetry: true, want: ['accept', '*/*', 'cookie', 'a=1', 'x', '1', 'cookie', 'b=2'] },
  { name: 'pseudo-headers and hop-by-hop fields dropped', src: [':status', '200', 'keep-alive', 'timeout=5', 'transfer-encoding', 'chunked', 'upgrade', 'h2c', 'host', 'a', 'proxy-connection', 'x', 'http2-settings', 'AAA', 'content-length', '3'], keepRetry: true, want: ['content-length', '3'] },
  { name: 'the mesh hop fields dropped', src: ['weft-target', '10.0.0.1:80', 'weft-proto', 'h2', 'x-app', 'y'], keepRetry: true, want: ['x-app', 'y'] },
  { name: 'what Connection names (any of its fields, any case) stops here', src: ['connection', 'X-One, x-two', 'x-one', '1', 'x-two', '2', 'connection', 'x-three', 'x-three', '3', 'x-four', '4'], keepRetry: true, want: ['x-four', '4'] },
  { name: 'te: trailers kept, once, at the end; other codings dropped', src: ['te', 'gzip, trailers', 'a', '1'], keepRetry: true, want: ['a', '1', 'te', 'trailers'] },
  { name: 'te without trailers dropped', src: ['te', 'gzip', 'a', '1'], keepRetry: true, want: ['a', '1'] },
  { name: 'the retry mark kept when asked', src: ['weft-retry-attempt', '2'], keepRetry: true, want: ['weft-retry-attempt', '2'] },
  { name: 'the retry mark dropped otherwise', src: ['weft-retry-attempt', '2', 'b', '1'], keepRetry: false, want: ['b', '1'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(appendEndToEndList([], c.src, c.keepRetry), c.want);
  });
}

t.test('appends to the list it is given, and returns it', async (t) => {
  const out = [':status', '204'];
  t.equal(appendEndToEndList(out, ['a', '1'], true), out);
  t.same(out, [':status', '204', 'a', '1']);
});
