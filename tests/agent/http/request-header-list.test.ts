// The HTTP/2 header list of a request (on the hop between agents, and to an h2c pod), built straight from the request: a
// table of requests and the exact lists expected (written out by hand from agent/http/headers.ts's
// description of the hop, not computed), including spoofed mesh fields.
import t from 'tap';
import { requestHeaderList } from '../../../agent/http/headers.ts';
import type { AttemptRequest } from '../../../agent/http/upstream.ts';

function req(over: Partial<AttemptRequest>): AttemptRequest {
  return {
    method: 'GET', path: '/a?b=1', authority: 'web.default:8080', headers: [], proto: 'http1',
    target: { ip: '10.0.0.2', port: 8080 }, source: 'spiffe://t/ns/a/sa/b', sourceAddress: '10.0.0.1', bodyless: true, ...over,
  };
}

const cases: { name: string; r: AttemptRequest; target: string; want: string[] }[] = [
  {
    name: 'no fields: pseudo-headers, then the mesh fields',
    r: req({}),
    target: '10.0.0.2:8080',
    want: [':method', 'GET', ':path', '/a?b=1', ':authority', 'web.default:8080', ':scheme', 'http', 'weft-target', '10.0.0.2:8080', 'weft-proto', 'http1'],
  },
  {
    name: 'fields in order, repeated fields repeated',
    r: req({ method: 'POST', proto: 'h2', headers: ['content-type', 'text/plain', 'cookie', 'a=1', 'cookie', 'b=2', 'content-length', '5'] }),
    target: '10.0.0.3:9090',
    want: [':method', 'POST', ':path', '/a?b=1', ':authority', 'web.default:8080', ':scheme', 'http', 'content-type', 'text/plain', 'cookie', 'a=1', 'cookie', 'b=2', 'content-length', '5', 'weft-target', '10.0.0.3:9090', 'weft-proto', 'h2'],
  },
  {
    name: 'pseudo-headers and the mesh fields in the request\'s list never reach the hop\'s twice',
    r: req({ headers: [':path', '/evil', 'weft-target', '1.2.3.4:22', 'weft-proto', 'h2', 'accept', '*/*'] }),
    target: '10.0.0.2:8080',
    want: [':method', 'GET', ':path', '/a?b=1', ':authority', 'web.default:8080', ':scheme', 'http', 'accept', '*/*', 'weft-target', '10.0.0.2:8080', 'weft-proto', 'http1'],
  },
];

t.test('without a target (an h2c request to a pod on this node): no mesh fields, spoofed ones dropped too', async (t) => {
  const r = req({ proto: 'h2', headers: ['content-type', 'application/grpc', 'te', 'trailers', 'weft-target', '1.2.3.4:22'] });
  t.same(requestHeaderList(r), [':method', 'GET', ':path', '/a?b=1', ':authority', 'web.default:8080', ':scheme', 'http', 'content-type', 'application/grpc', 'te', 'trailers']);
});

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(requestHeaderList(c.r, c.target), c.want);
  });
}
