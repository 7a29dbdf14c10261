// How a response body is delimited on the app's connection (agent/http1/response-framing.ts),
// and the request header object as node:http builds it (agent/http1/header-object.ts): tables
// whose expected values come from RFC 9112 §6.3 and from node:http's documented IncomingMessage
// rules, written out here.
import t from 'tap';
import { responseFraming, type ResponseFramingFacts } from '../../../agent/http1/response-framing.ts';
import { fieldValue, headerObject } from '../../../agent/http1/header-object.ts';
import { httpDate } from '../../../agent/http1/http-date.ts';

t.test('response framing', async (t) => {
  const rows: Array<[string, ResponseFramingFacts, string]> = [
    ['Content-Length given: as is', { method: 'GET', minor: 1, status: 200, contentLength: true }, 'length'],
    ['unknown length to HTTP/1.1: chunked', { method: 'GET', minor: 1, status: 200, contentLength: false }, 'chunked'],
    ['unknown length to HTTP/1.0: until close', { method: 'GET', minor: 0, status: 200, contentLength: false }, 'close'],
    ['HTTP/1.0 with Content-Length', { method: 'POST', minor: 0, status: 201, contentLength: true }, 'length'],
    ['HEAD: no body even with a Content-Length', { method: 'HEAD', minor: 1, status: 200, contentLength: true }, 'none'],
    ['HEAD without length: no chunked', { method: 'HEAD', minor: 1, status: 200, contentLength: false }, 'none'],
    ['204', { method: 'DELETE', minor: 1, status: 204, contentLength: false }, 'none'],
    ['304', { method: 'GET', minor: 1, status: 304, contentLength: true }, 'none'],
    ['1xx', { method: 'GET', minor: 1, status: 103, contentLength: false }, 'none'],
    ['5xx unknown length', { method: 'GET', minor: 1, status: 503, contentLength: false }, 'chunked'],
  ];
  for (const [name, facts, want] of rows) t.equal(responseFraming(facts), want, name);
});

t.test('header object', async (t) => {
  t.same(headerObject(['Host', 'a', 'X-A', '1', 'x-a', '2', 'Cookie', 'c=1', 'cookie', 'd=2', 'Set-Cookie', 's=1', 'set-cookie', 's=2', 'Content-Type', 'text/plain', 'content-type', 'text/html', 'User-Agent', 'u1', 'User-Agent', 'u2']), {
    host: 'a', 'x-a': '1, 2', cookie: 'c=1; d=2', 'set-cookie': ['s=1', 's=2'], 'content-type': 'text/plain', 'user-agent': 'u1',
  });
  t.same(headerObject([]), {});
});

t.test('one field of a list, read as the header object would give it (fieldValue)', async (t) => {
  const list = ['host', 'a', 'x-a', '1', 'x-a', '2', 'cookie', 'c=1', 'cookie', 'd=2', 'set-cookie', 's=1', 'set-cookie', 's=2', 'content-type', 'text/plain', 'content-type', 'text/html', 'user-agent', 'u1', 'user-agent', 'u2', '__proto__', 'x'];
  const want: [string, string | undefined][] = [
    ['host', 'a'], ['x-a', '1, 2'], ['cookie', 'c=1; d=2'], ['set-cookie', 's=1,s=2'], ['content-type', 'text/plain'],
    ['user-agent', 'u1'], ['absent', undefined], ['__proto__', undefined], ['1', undefined],
  ];
  for (const [name, value] of want) t.equal(fieldValue(list, name), value, name);
});

t.test('http date', async (t) => {
  t.equal(httpDate(Date.UTC(2026, 11, 7, 1, 2, 3, 456)), 'Mon, 07 Dec 2026 01:02:03 GMT');
  t.equal(httpDate(Date.UTC(1994, 10, 6, 8, 49, 37)), 'Sun, 06 Nov 1994 08:49:37 GMT', 'RFC 9110 §5.6.7 example');
});
