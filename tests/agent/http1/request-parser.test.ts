// agent/http1/request-parser.ts against hand-written wire bytes: one row per rule (the expected
// rule, status and code written out here, from RFC 9112 / 9110, not read from the parser's
// table), the RFC's own examples, and the connection behaviour (pipelining in order, upgrades,
// 100-continue, limits). Every row is also run one byte per read and at every two-piece split: the
// outcome must not depend on how the bytes arrived.
import t, { type Test } from 'tap';
import { RequestParser, CHUNKED, type RequestHead } from '../../../agent/http1/request-parser.ts';
import type { H1ParseError } from '../../../agent/http1/parse-error.ts';
import { bytewise, drive, pieces, summary, type Outcome } from './drive.ts';

const H = 'Host: x\r\n';

/** Runs `wire` whole, bytewise and at every cut; asserts they agree; returns the whole-read outcome. */
function parse(t: Test, wire: string, limits?: Parameters<typeof drive>[1]): Outcome {
  const bytes = Buffer.from(wire, 'latin1');
  const whole = drive([bytes], limits);
  const want = JSON.stringify(summary(whole));
  t.equal(JSON.stringify(summary(drive(bytewise(bytes), limits))), want, 'same outcome one byte per read');
  // Every two-piece split (and a few three-piece ones) for the short rows; long ones bytewise only.
  if (bytes.length < 400) {
    for (let c = 1; c < bytes.length; c++) {
      const got = JSON.stringify(summary(drive(pieces(bytes, [c]), limits)));
      if (got !== want) {
        t.equal(got, want, `same outcome split at ${c}`);
        break;
      }
      const got3 = JSON.stringify(summary(drive(pieces(bytes, [c, c + 7]), limits)));
      if (got3 !== want) {
        t.equal(got3, want, `same outcome split at ${c} and ${c + 7}`);
        break;
      }
    }
  }
  return whole;
}

// [name, wire, rule, status, code]: refused requests.
const REFUSALS: Array<[string, string, string, number, string]> = [
  // Framing: the request-smuggling family (RFC 9112 §6).
  ['CL and TE together (CL.TE)', `POST /a HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, 'te_and_cl', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['TE and CL together (TE.CL)', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, 'te_and_cl', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['two differing Content-Lengths', `POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd`, 'cl_duplicate', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['two equal Content-Lengths', `POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`, 'cl_duplicate', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a Content-Length list', `POST /a HTTP/1.1\r\n${H}Content-Length: 4, 4\r\n\r\nabcd`, 'cl_duplicate', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a negative Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 'cl_invalid', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a Content-Length with a sign', `POST /a HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 'cl_invalid', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['an empty Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: \r\n\r\n`, 'cl_invalid', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a Content-Length with a space inside', `POST /a HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\n`, 'cl_invalid', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a hex Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, 'cl_invalid', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a Content-Length past 2^64', `POST /a HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, 'cl_too_large', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a Content-Length past 2^53 - 1', `POST /a HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`, 'cl_too_large', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['Transfer-Encoding not ending in chunked', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['gzip then chunked (a coding this path does not decode)', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['an unknown Transfer-Encoding', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['Transfer-Encoding twice', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['chunked, with a trailing comma', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['identity', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, 'te_not_chunked', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['Transfer-Encoding in HTTP/1.0', `POST /te10 HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`, 'te_http10', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['CONNECT with a body', `CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\n\r\nxyz`, 'connect_body', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['CONNECT chunked', `CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'connect_body', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a bad chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n`, 'chunk_size', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk size with 0x', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`, 'chunk_size', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk size followed by a space', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`, 'chunk_size', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['an empty chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n`, 'chunk_size', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk size past 2^53 - 1', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n`, 'chunk_size', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk extension with a space', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a b\r\nabc\r\n0\r\n\r\n`, 'chunk_ext', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk extension without a name', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;=b\r\nabc\r\n0\r\n\r\n`, 'chunk_ext', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['an unterminated quoted chunk extension', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a="b\r\nabc\r\n0\r\n\r\n`, 'chunk_ext', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['chunk data longer than its size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`, 'chunk_data_crlf', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['chunk data ended by LF alone', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n`, 'chunk_data_crlf', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a chunk-size line ended by LF alone', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`, 'bare_lf', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  // Syntax (RFC 9112 §2, §3, §5).
  ['obs-fold (a folded header line)', `GET /a HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 'obs_fold', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['obs-fold with a tab', `GET /a HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`, 'obs_fold', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['whitespace before the first field', `GET /a HTTP/1.1\r\n ${H}\r\n`, 'obs_fold', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a space before the colon', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 'space_before_colon', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a tab before the colon', `POST /a HTTP/1.1\r\n${H}Content-Length\t: 0\r\n\r\n`, 'space_before_colon', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a NUL in a header value', `GET /a HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 'field_value', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a DEL in a header value', `GET /a HTTP/1.1\r\n${H}X-A: a\u007fb\r\n\r\n`, 'field_value', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a bare CR in a header value', `GET /a HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 'bare_cr', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a bare CR in the request line', `GET /a\rb HTTP/1.1\r\n${H}\r\n`, 'bare_cr', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a header name with a space', `GET /a HTTP/1.1\r\n${H}Bad Header: y\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['an empty header name', `GET /a HTTP/1.1\r\n${H}: y\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a header line without a colon', `GET /a HTTP/1.1\r\n${H}X-A\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a non-ASCII header name', `GET /a HTTP/1.1\r\n${H}X\u00e9: y\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a quote in a header name', `GET /a HTTP/1.1\r\n${H}X": y\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a control character in the target', `GET /a\u0001b HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a non-ASCII target', `GET /\u00e9 HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['bare LF line endings', `GET /a HTTP/1.1\n${H.replace('\r', '')}\n`, 'bare_lf', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a bare LF ending the head', `GET /a HTTP/1.1\r\n${H}\n`, 'bare_lf', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['authority-form outside CONNECT', `GET server:8080 HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a bare word as the target', `GET admin HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['asterisk-form outside OPTIONS', `GET * HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['CONNECT to a path', `CONNECT /a HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['CONNECT without a port', `CONNECT a HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['absolute-form of another scheme', `GET ftp://a/b HTTP/1.1\r\n${H}\r\n`, 'target', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['two spaces after the method', `GET  /a HTTP/1.1\r\n${H}\r\n`, 'request_line', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['two spaces before the version', `GET /a  HTTP/1.1\r\n${H}\r\n`, 'request_line', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['no version', `GET /a\r\n${H}\r\n`, 'request_line', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a request line of one word', `GET\r\n${H}\r\n`, 'request_line', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a tab after the method', `GET\t/a HTTP/1.1\r\n${H}\r\n`, 'method', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['an unknown method', `FOO /a HTTP/1.1\r\n${H}\r\n`, 'method', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a lower-case method (methods are case-sensitive)', `get /a HTTP/1.1\r\n${H}\r\n`, 'method', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'method', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['HTTP/1.2', `GET /a HTTP/1.2\r\n${H}\r\n`, 'version', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['HTTP/2.0 in an HTTP/1 request line', `GET /a HTTP/2.0\r\n${H}\r\n`, 'version', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['HTTP/0.9', `GET /a HTTP/0.9\r\n${H}\r\n`, 'version', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a lower-case version', `GET /a http/1.1\r\n${H}\r\n`, 'version', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a space after the version', `GET /a HTTP/1.1 \r\n${H}\r\n`, 'version', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  // Host (RFC 9112 §3.2: MUST 400).
  ['HTTP/1.1 without Host', 'GET /a HTTP/1.1\r\n\r\n', 'host_missing', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['two Hosts', 'GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'host_duplicate', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['two equal Hosts, different case', 'GET /a HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', 'host_duplicate', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a Host with a space', 'GET /a HTTP/1.1\r\nHost: a b\r\n\r\n', 'host_invalid', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a Host with userinfo', 'GET /a HTTP/1.1\r\nHost: u@a\r\n\r\n', 'host_invalid', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a Host with a path', 'GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n', 'host_invalid', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a Host with a non-numeric port', 'GET /a HTTP/1.1\r\nHost: a:http\r\n\r\n', 'host_invalid', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a Host with a broken escape', 'GET /a HTTP/1.1\r\nHost: a%zz\r\n\r\n', 'host_invalid', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  // Sizes.
  ['20 KiB of headers', `GET /a HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'headers_too_large', 431, 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE'],
  ['101 header fields', `GET /a HTTP/1.1\r\n${H}${'X-N: 1\r\n'.repeat(100)}\r\n`, 'too_many_headers', 431, 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE'],
  ['a 9 KiB request line', `GET /${'l'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 'request_line_too_long', 414, 'WEFT_ERR_HTTP_URI_TOO_LONG'],
  ['20 KiB of trailers', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'a'.repeat(20_000)}\r\n\r\n`, 'headers_too_large', 431, 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE'],
  ['a trailer with a space in its name', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX T: 1\r\n\r\n`, 'field_name', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['Content-Length in the trailers', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 3\r\n\r\n`, 'trailer_framing', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['Transfer-Encoding in the trailers', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\ntransfer-encoding: chunked\r\n\r\n`, 'trailer_framing', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['a folded trailer', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n`, 'obs_fold', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['a 5 KiB chunk-size line', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=${'b'.repeat(5000)}\r\nabc\r\n0\r\n\r\n`, 'chunk_ext_too_large', 400, 'WEFT_ERR_HTTP_FRAMING'],
  ['more than 16 KiB of chunk extensions', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${`1;a=${'b'.repeat(3000)}\r\nx\r\n`.repeat(6)}0\r\n\r\n`, 'chunk_ext_too_large', 400, 'WEFT_ERR_HTTP_FRAMING'],
  // Cut short.
  ['EOF inside a head', `GET /a HTTP/1.1\r\n${H}`, 'truncated', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['EOF inside a body', `POST /a HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`, 'truncated', 400, 'WEFT_ERR_HTTP_MALFORMED'],
  ['EOF inside a chunk', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nab`, 'truncated', 400, 'WEFT_ERR_HTTP_MALFORMED'],
];

t.test('every refusal: its rule, status and code, in any split', async (t) => {
  for (const [name, wire, rule, status, code] of REFUSALS) {
    await t.test(name, async (t) => {
      const o = parse(t, wire);
      t.same(o.error === null ? null : { rule: o.error.rule, status: o.error.status, code: o.error.code }, { rule, status, code });
      t.notOk(o.messages.some((m) => m.head.target.includes('smuggled')), 'nothing smuggled came out');
    });
  }
});

t.test('a refusal after good requests: they came out whole, the bad one never did', async (t) => {
  const o = parse(t, `GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nokGET /3 HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`);
  t.same(o.messages.map((m) => [m.head.target, m.body.toString(), m.complete]), [['/1', '', true], ['/2', 'ok', true]]);
  t.equal(o.error?.rule, 'cl_duplicate');
});

t.test('RFC 9112 examples and legal shapes', async (t) => {
  // §3.2.1 origin-form.
  let o = parse(t, 'GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n');
  t.match(o.messages[0].head, { method: 'GET', target: '/where?q=now', targetForm: 'origin', minor: 1, host: 'www.example.org', bodyLength: 0, keepAlive: true });
  t.equal(o.messages[0].head.raw.toString(), 'GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n', 'raw is the head, byte for byte');
  // §3.2.2 absolute-form: recognised; turned into origin-form by the target stage, not here.
  o = parse(t, 'GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n');
  t.match(o.messages[0].head, { target: 'http://www.example.org/pub/WWW/TheProject.html', targetForm: 'absolute' });
  // §3.2.3 authority-form.
  o = parse(t, 'CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\ntunnel bytes');
  t.match(o.messages[0].head, { method: 'CONNECT', target: 'www.example.com:80', targetForm: 'authority', connect: true, upgrade: false });
  t.equal(o.rest?.toString(), 'tunnel bytes', 'what follows a CONNECT is handed back untouched');
  // §3.2.4 asterisk-form.
  o = parse(t, 'OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n');
  t.match(o.messages[0].head, { target: '*', targetForm: 'asterisk', host: 'www.example.org:8001' });
  // §7.1 chunked, with extensions (§7.1.1) and a trailer (§7.1.2).
  o = parse(t, `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5;a="q \\" d";b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-T:v\r\n\r\n`);
  t.equal(o.messages[0].head.bodyLength, CHUNKED);
  t.equal(o.messages[0].body.toString(), 'Wikipedia in\r\n\r\nchunks.');
  t.same(o.messages[0].trailers, ['Expires', 'Wed, 21 Oct 2015 07:28:00 GMT', 'X-T', 'v']);
  // Chunk size with leading zeros and upper-case hex; Transfer-Encoding in any case.
  o = parse(t, `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n`);
  t.equal(o.messages[0].body.toString(), '0123456789');
  t.equal(o.messages[0].trailers, null, 'no trailers: null');
  // Field values: OWS trimmed, inner spaces and tabs kept, obs-text kept as latin1, empty allowed.
  o = parse(t, `GET / HTTP/1.1\r\n${H}X-A:\t a \t b \t\r\nX-B:\r\nX-C: caf\u00e9\r\nX-D:no-space\r\n\r\n`);
  t.same(o.messages[0].head.rawHeaders, ['Host', 'x', 'X-A', 'a \t b', 'X-B', '', 'X-C', 'caf\u00e9', 'X-D', 'no-space']);
  // Targets with every visible character llhttp accepts, and an empty first segment.
  o = parse(t, `GET //a/"<>\\^\`{|}#f?q HTTP/1.1\r\n${H}\r\n`);
  t.equal(o.messages[0].head.target, '//a/"<>\\^`{|}#f?q');
  // Host forms: IPv6 literal with a port, empty (RFC 9112 §3.2), a name with a trailing colon.
  for (const host of ['[::1]:8080', '', 'a:', '10.0.0.1', 'xn--bcher-kva.example:443']) {
    o = parse(t, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    t.equal(o.messages[0]?.head.host, host, `Host ${JSON.stringify(host)} accepted`);
  }
  // HTTP/1.0: no Host needed, close unless keep-alive.
  o = parse(t, 'GET / HTTP/1.0\r\n\r\n');
  t.match(o.messages[0].head, { minor: 0, host: undefined, keepAlive: false });
  o = parse(t, 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
  t.equal(o.messages[0].head.keepAlive, true);
  o = parse(t, `GET / HTTP/1.1\r\n${H}Connection: foo, CLOSE\r\n\r\n`);
  t.equal(o.messages[0].head.keepAlive, false, 'close among other options');
  // Empty lines before a request line are skipped (§2.2), e.g. the CRLF old clients add after a body.
  o = parse(t, `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`);
  t.equal(o.messages[0].head.raw.toString(), `GET / HTTP/1.1\r\n${H}\r\n`, 'raw starts at the request line');
  // A GET may carry a body; a zero Content-Length is no body.
  o = parse(t, `GET / HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`);
  t.equal(o.messages[0].body.toString(), 'abc');
  o = parse(t, `POST / HTTP/1.1\r\n${H}Content-Length: 000\r\n\r\n`);
  t.match(o.messages[0], { complete: true, head: { bodyLength: 0 } });
});

t.test('pipelining: in order, one at a time, no byte of the next request lost', async (t) => {
  const wire = `POST /1 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\n${H}\r\nPOST /3 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\r\nGET /4 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
  const o = parse(t, wire);
  t.same(o.messages.map((m) => [m.head.target, m.body.toString(), m.complete, m.head.keepAlive]), [['/1', 'hello', true, true], ['/2', '', true, true], ['/3', 'hi', true, true], ['/4', '', true, false]]);
  t.equal(o.error, null);

  // The parser itself: it stops after each message and waits for next(); execute says where.
  const events: string[] = [];
  const p = new RequestParser({
    onRequestHead: (h: RequestHead) => events.push(`head ${h.target}`),
    onBody: (c: Buffer) => events.push(`body ${c.toString()}`),
    onMessageComplete: () => events.push('complete'),
    onError: (e: H1ParseError) => events.push(`error ${e.rule}`),
  });
  const buf = Buffer.from(wire);
  const n1 = p.execute(buf);
  t.equal(buf.subarray(n1).toString().startsWith('GET /2 '), true, 'stopped right after request 1');
  t.ok(p.paused);
  t.same(events, ['head /1', 'body hello', 'complete']);
  t.equal(p.execute(buf.subarray(n1)), 0, 'paused: nothing is read until next()');
  t.same(events.length, 3, 'and nothing is delivered');
  p.next();
  const n2 = p.execute(buf.subarray(n1));
  t.equal(buf.subarray(n1 + n2).toString().startsWith('POST /3 '), true, 'stopped right after request 2');
  t.same(events.slice(3), ['head /2', 'complete']);
  t.ok(p.idle, 'between requests: a clean place to end');
});

t.test('the handler may ask for the next request inside onMessageComplete', async (t) => {
  const targets: string[] = [];
  const p: RequestParser = new RequestParser({
    onRequestHead: (h: RequestHead) => targets.push(h.target),
    onBody: () => undefined,
    onMessageComplete: () => p.next(),
    onError: () => undefined,
  });
  const wire = Buffer.from(`GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\nGET /c HTTP/1.1\r\n${H}\r\n`);
  t.equal(p.execute(wire), wire.length, 'all three in one call');
  t.same(targets, ['/a', '/b', '/c']);
});

t.test('body bytes are subarrays of the reads, and a whole head is a subarray too', async (t) => {
  const wire = Buffer.from(`POST /z HTTP/1.1\r\n${H}Content-Length: 4\r\n\r\nbody`);
  let raw: Buffer | null = null;
  let body: Buffer | null = null;
  const p = new RequestParser({ onRequestHead: (h: RequestHead) => (raw = h.raw), onBody: (c: Buffer) => (body = c), onMessageComplete: () => undefined, onError: () => undefined });
  p.execute(wire);
  t.equal((raw as Buffer | null)?.buffer, wire.buffer, 'raw shares the read\'s memory');
  t.equal((body as Buffer | null)?.buffer, wire.buffer, 'body shares the read\'s memory');
  t.equal((body as Buffer | null)?.toString(), 'body');
});

t.test('upgrades: flagged, the rest handed back untouched; or served as a plain request', async (t) => {
  const up = `GET /chat HTTP/1.1\r\n${H}Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\u0081\u0005hello`;
  let o = parse(t, up);
  t.match(o.messages[0].head, { upgrade: true, connect: false, target: '/chat' });
  t.equal(o.rest?.toString('latin1'), '\u0081\u0005hello', 'frames after the head are not parsed');
  // RFC 9110 §7.8: Upgrade in HTTP/1.0 is ignored; Upgrade without Connection: upgrade is no upgrade.
  o = parse(t, 'GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
  t.match(o.messages[0], { complete: true, head: { upgrade: false } });
  o = parse(t, `GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\n`);
  t.match(o.messages[0], { complete: true, head: { upgrade: false } });
  // An h2c upgrade the mesh declines: the same bytes go on as a request with a body, then the next one.
  const h2c = Buffer.from(`POST /u HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\nokGET /next HTTP/1.1\r\n${H}\r\n`);
  for (const reads of [[h2c], bytewise(h2c)]) {
    o = drive(reads, undefined, { continueUpgrades: true });
    t.same(o.messages.map((m) => [m.head.target, m.head.upgrade, m.body.toString(), m.complete]), [['/u', true, 'ok', true], ['/next', false, '', true]]);
  }
});

t.test('Expect: 100-continue is flagged on HTTP/1.1 only', async (t) => {
  let o = parse(t, `POST / HTTP/1.1\r\n${H}Expect: 100-Continue\r\nContent-Length: 1\r\n\r\na`);
  t.equal(o.messages[0].head.expectContinue, true);
  o = parse(t, 'POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na');
  t.equal(o.messages[0].head.expectContinue, false, 'RFC 9110 §10.1.1: ignored in HTTP/1.0');
});

t.test('limits are configurable, and each bound is exact', async (t) => {
  const line = (n: number): string => `GET /${'a'.repeat(n - 14)} HTTP/1.1`; // n bytes
  t.equal(line(100).length, 100);
  t.equal(parse(t, `${line(100)}\r\n${H}\r\n`, { maxRequestLine: 100 }).error, null, 'a line at the limit passes');
  t.equal(parse(t, `${line(101)}\r\n${H}\r\n`, { maxRequestLine: 100 }).error?.rule, 'request_line_too_long', 'one byte more is refused');
  const head = `GET / HTTP/1.1\r\n${H}X: ${'v'.repeat(50)}\r\n\r\n`;
  t.equal(parse(t, head, { maxHeaderBytes: head.length, maxRequestLine: 20 }).error, null, 'a head at the limit passes');
  t.equal(parse(t, head, { maxHeaderBytes: head.length - 1, maxRequestLine: 20 }).error?.rule, 'headers_too_large', 'one byte less is refused');
  t.equal(parse(t, `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\n\r\n`, { maxHeaders: 3 }).error, null, '3 fields, limit 3');
  t.equal(parse(t, `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\nC: 3\r\n\r\n`, { maxHeaders: 3 }).error?.rule, 'too_many_headers', '4 fields, limit 3');
  t.throws(() => new RequestParser({ onRequestHead() {}, onBody() {}, onMessageComplete() {}, onError() {} }, { maxRequestLine: 100, maxHeaderBytes: 100 }), /below/);
});

t.test('after a refusal, the parser stays failed and calls onError once', async (t) => {
  let errors = 0;
  const p = new RequestParser({ onRequestHead() {}, onBody() {}, onMessageComplete() {}, onError: () => errors++ });
  t.equal(p.execute(Buffer.from('BAD\r\n\r\n')), -1);
  t.equal(p.execute(Buffer.from(`GET / HTTP/1.1\r\n${H}\r\n`)), -1);
  t.equal(p.finish()?.rule, 'request_line');
  t.equal(errors, 1);
});

t.test('a head split across reads, then one big read: the head from the kept bytes, the body from the read', async (t) => {
  const body = Buffer.alloc(40_000, 0x62);
  const head = `\r\nPOST /big HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n\r\n`;
  const next = `GET /after HTTP/1.1\r\n${H}\r\n`;
  const wire = Buffer.concat([Buffer.from(head), body, Buffer.from(next)]);
  for (const cut of [1, 2, 5, 20, head.length - 3, head.length - 1]) {
    const o = drive(pieces(wire, [cut]));
    t.same(o.messages.map((m) => [m.head.target, m.body.length, m.complete]), [['/big', body.length, true], ['/after', 0, true]], `cut at ${cut}`);
    t.equal(o.messages[0].head.raw.toString(), head.slice(2), `raw rebuilt from the kept bytes (cut at ${cut})`);
    t.ok(o.messages[0].body.equals(body), 'every body byte, once');
  }
  // The same with a chunked body whose size line and trailers span reads.
  const chunked = Buffer.from(`POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n9c40;x=y\r\n${'c'.repeat(40_000)}\r\n0\r\nX-T: 1\r\n\r\n`);
  const at = chunked.indexOf('9c40');
  for (const cuts of [[at + 2], [at + 2, at + 12], [chunked.length - 8], [chunked.length - 3]]) {
    const o = drive(pieces(chunked, cuts));
    t.same(o.messages.map((m) => [m.body.length, m.trailers, m.complete]), [[40_000, ['X-T', '1'], true]], `chunked, cuts ${cuts.join(',')}`);
  }
});

t.test('an unterminated head in one large read is refused without keeping it all', async (t) => {
  const o = drive([Buffer.from(`GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(1 << 20)}`)]);
  t.equal(o.error?.rule, 'headers_too_large');
  const line = drive([Buffer.from(`GET /${'a'.repeat(1 << 20)}`)]);
  t.equal(line.error?.rule, 'request_line_too_long');
});
