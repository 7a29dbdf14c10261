// The pure decisions under the request parser, one table each: body framing from the header
// facts (RFC 9112 §6.3), a chunk-size line (§7.1, §7.1.1), an authority (Host / CONNECT target,
// §3.2, RFC 3986 §3.2.2), and the request-target form a method allows (§3.2).
import t from 'tap';
import { CHUNKED, decideFraming, type FramingFacts } from '../../../agent/http1/framing.ts';
import { BAD_EXT, BAD_SIZE, parseChunkLine } from '../../../agent/http1/chunk-line.ts';
import { isAuthority } from '../../../agent/http1/authority.ts';
import { targetForm } from '../../../agent/http1/target-form.ts';

t.test('decideFraming', async (t) => {
  const base: FramingFacts = { minor: 1, connect: false, contentLength: -1, teFields: 0, teChunkedOnly: true };
  const rows: Array<[string, Partial<FramingFacts>, number | string]> = [
    ['no framing fields: no body', {}, 0],
    ['Content-Length: 0', { contentLength: 0 }, 0],
    ['Content-Length: 12', { contentLength: 12 }, 12],
    ['chunked', { teFields: 1 }, CHUNKED],
    ['chunked and Content-Length', { teFields: 1, contentLength: 5 }, 'te_and_cl'],
    ['chunked and Content-Length: 0', { teFields: 1, contentLength: 0 }, 'te_and_cl'],
    ['a coding other than chunked', { teFields: 1, teChunkedOnly: false }, 'te_not_chunked'],
    ['chunked on two lines', { teFields: 2 }, 'te_not_chunked'],
    ['chunked in HTTP/1.0', { teFields: 1, minor: 0 }, 'te_http10'],
    ['both in HTTP/1.0: the smuggling signature is named first', { teFields: 1, minor: 0, contentLength: 3 }, 'te_and_cl'],
    ['Content-Length in HTTP/1.0', { minor: 0, contentLength: 3 }, 3],
    ['CONNECT', { connect: true }, 0],
    ['CONNECT with Content-Length: 0', { connect: true, contentLength: 0 }, 0],
    ['CONNECT with a body', { connect: true, contentLength: 3 }, 'connect_body'],
    ['CONNECT chunked', { connect: true, teFields: 1 }, 'connect_body'],
  ];
  for (const [name, facts, want] of rows) t.equal(decideFraming({ ...base, ...facts }), want, name);
});

t.test('parseChunkLine', async (t) => {
  const rows: Array<[string, number]> = [
    ['0', 0], ['a', 10], ['A', 10], ['0010', 16], ['ffffffff', 0xffffffff], ['1fffffffffffff', Number.MAX_SAFE_INTEGER],
    ['20000000000000', BAD_SIZE], ['', BAD_SIZE], ['g', BAD_SIZE], ['3 ', BAD_SIZE], [' 3', BAD_SIZE], ['-3', BAD_SIZE], ['0x3', BAD_SIZE],
    ['3;a', 3], ['3;a=b', 3], ['3;a=b;c', 3], ['3;a="x y"', 3], ['3;a="q\\"d"', 3], ['3;a=""', 3],
    ['3 ;a', BAD_SIZE], ['3;', BAD_EXT], ['3;a=', BAD_EXT], ['3;a b', BAD_EXT], ['3;a =b', BAD_EXT], ['3;a="x', BAD_EXT],
    ['3;a="x"y', BAD_EXT], ['3;=b', BAD_EXT], ['3;a="\u00e9"', 3], ['3;a="\u007f"', BAD_EXT], ['3;a="\\\u0001"', BAD_EXT], ['3;a=b,c', BAD_EXT],
  ];
  for (const [line, want] of rows) {
    const b = Buffer.from(`xx${line}yy`, 'latin1');
    t.equal(parseChunkLine(b, 2, b.length - 2), want, JSON.stringify(line));
  }
});

t.test('isAuthority', async (t) => {
  const rows: Array<[string, boolean, boolean]> = [
    // [value, as a Host, as a CONNECT target]
    ['example.com', true, false], ['example.com:80', true, true], ['10.0.0.1:8080', true, true], ['[::1]:443', true, true],
    ['[::1]', true, false], ['[2001:db8::7]:1', true, true], ['', true, false], ['a:', true, false], [':80', true, false],
    ['a%20b', true, false], ["a!$&'()*+,;=b:1", true, true], ['a_b-c.d~e:1', true, true],
    ['a b', false, false], ['u@h:80', false, false], ['a/b', false, false], ['a?b', false, false], ['a#b', false, false],
    ['a%2', false, false], ['a%zz', false, false], ['[::1', false, false], ['[]', false, false], ['[::g]:1', false, false],
    ['[::1]x', false, false], ['a:b', false, false], ['a:80:80', false, false], ['a:123456', true, false], ['caf\u00e9', false, false],
  ];
  for (const [v, host, connect] of rows) {
    t.equal(isAuthority(v, false), host, `Host ${JSON.stringify(v)}`);
    t.equal(isAuthority(v, true), connect, `CONNECT ${JSON.stringify(v)}`);
  }
});

t.test('targetForm', async (t) => {
  const rows: Array<[string, string, string | null]> = [
    ['GET', '/', 'origin'], ['GET', '/a?b', 'origin'], ['GET', '//a', 'origin'],
    ['GET', 'http://a/b', 'absolute'], ['POST', 'HTTPS://a', 'absolute'], ['GET', 'ftp://a/b', null], ['GET', 'http:/a', null],
    ['OPTIONS', '*', 'asterisk'], ['GET', '*', null], ['OPTIONS', '*x', null],
    ['CONNECT', 'a:443', 'authority'], ['CONNECT', '/a', null], ['CONNECT', 'a', null], ['CONNECT', 'http://a:80/', null],
    ['GET', 'a:80', null], ['GET', 'admin', null],
  ];
  for (const [m, target, want] of rows) t.equal(targetForm(m, target), want, `${m} ${target}`);
});
