// RFC 9113 §8.2/§8.3 message rules (agent/h2/header-rules.ts) as a table: each header list and
// whether it is well-formed, with the reason the RFC gives when it is not.
import t from 'tap';
import { contentLength, requestHeadersError, responseHeadersError, trailersError } from '../../../agent/h2/header-rules.ts';

const GET = [':method', 'GET', ':scheme', 'https', ':path', '/', ':authority', 'a'];

const requests: [string, string[], boolean][] = [
  ['a plain GET', GET, true],
  ['CONNECT with :authority only (§8.5)', [':method', 'CONNECT', ':authority', 'a:443'], true],
  ['CONNECT with :path', [':method', 'CONNECT', ':authority', 'a:443', ':path', '/'], false],
  ['CONNECT without :authority', [':method', 'CONNECT'], false],
  ['no :method', [':scheme', 'https', ':path', '/'], false],
  ['no :scheme', [':method', 'GET', ':path', '/'], false],
  ['empty :path', [':method', 'GET', ':scheme', 'https', ':path', ''], false],
  ['duplicate :path', [...GET, ':path', '/x'], false],
  ['pseudo after regular', [':method', 'GET', 'a', 'b', ':scheme', 'https', ':path', '/'], false],
  ['response pseudo in a request', [...GET.slice(0, 6), ':status', '200'], false],
  [':protocol (extended CONNECT not announced)', [':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':path', '/', ':authority', 'a'], false],
  ['upper-case name', [...GET, 'Accept', '*/*'], false],
  ['space in a name', [...GET, 'a b', '1'], false],
  ['colon inside a name', [...GET, 'a:b', '1'], false],
  ['DEL in a name', [...GET, 'a\x7f', '1'], false],
  ['CR in a value', [...GET, 'a', 'x\ry'], false],
  ['LF in a value', [...GET, 'a', 'x\ny'], false],
  ['NUL in a value', [...GET, 'a', 'x\0y'], false],
  ['leading space in a value', [...GET, 'a', ' x'], false],
  ['trailing tab in a value', [...GET, 'a', 'x\t'], false],
  ['inner space in a value', [...GET, 'a', 'x y'], true],
  ['connection', [...GET, 'connection', 'close'], false],
  ['keep-alive', [...GET, 'keep-alive', '1'], false],
  ['proxy-connection', [...GET, 'proxy-connection', '1'], false],
  ['transfer-encoding', [...GET, 'transfer-encoding', 'chunked'], false],
  ['upgrade', [...GET, 'upgrade', 'h2c'], false],
  ['te: trailers', [...GET, 'te', 'trailers'], true],
  ['te: gzip', [...GET, 'te', 'gzip'], false],
  // §8.3.1: origin-form :path for http(s), "*" only for OPTIONS; :authority without userinfo.
  ['absolute-form :path', [':method', 'GET', ':scheme', 'http', ':path', 'http://evil/admin', ':authority', 'a'], false],
  ['a :path that is a bare word', [':method', 'GET', ':scheme', 'https', ':path', 'admin'], false],
  ['a space in :path', [':method', 'GET', ':scheme', 'http', ':path', '/a b'], false],
  ['* for OPTIONS', [':method', 'OPTIONS', ':scheme', 'http', ':path', '*'], true],
  ['* for GET', [':method', 'GET', ':scheme', 'http', ':path', '*'], false],
  ['a query and an encoded octet', [':method', 'GET', ':scheme', 'http', ':path', '/a%20b?x=1&y=/z'], true],
  ['CONNECT to host:port', [':method', 'CONNECT', ':authority', '10.0.0.1:8080'], true],
  ['CONNECT to [v6]:port', [':method', 'CONNECT', ':authority', '[fd00::1]:443'], true],
  ['spaces in the authority', [':method', 'CONNECT', ':authority', 'not a target'], false],
  ['userinfo in the authority', [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'user@host'], false],
];

t.test('requests (§8.3.1)', async (t) => {
  for (const [name, h, ok] of requests) t.equal(requestHeadersError(h) === null, ok, `${name}: ${requestHeadersError(h) ?? 'ok'}`);
});

t.test('responses (§8.3.2) and trailers (§8.1)', async (t) => {
  t.equal(responseHeadersError([':status', '200', 'a', 'b']), null);
  t.not(responseHeadersError(['a', 'b']), null, 'no :status');
  t.not(responseHeadersError([':status', '20']), null, 'two digits');
  t.not(responseHeadersError([':status', '200', ':status', '204']), null, 'twice');
  t.not(responseHeadersError([':status', '200', ':path', '/']), null, 'request pseudo');
  t.equal(trailersError(['grpc-status', '0']), null);
  t.not(trailersError([':status', '200']), null, 'pseudo in trailers');
});

t.test('content-length (§8.1.1)', async (t) => {
  t.equal(contentLength(GET), -1);
  t.equal(contentLength([...GET, 'content-length', '12']), 12);
  t.equal(contentLength([...GET, 'content-length', '12', 'content-length', '12']), 12, 'repeated, same value');
  t.equal(contentLength([...GET, 'content-length', '12', 'content-length', '13']), -2, 'conflicting');
  t.equal(contentLength([...GET, 'content-length', '-1']), -2);
  t.equal(contentLength([...GET, 'content-length', '1e3']), -2);
});
