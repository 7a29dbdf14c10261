// The HTTP/1.1 request parser (agent/http1/request-parser.ts) under generated and mutated input.
// What must hold, for any bytes:
//   - it never throws; a refusal is one H1ParseError with a stable WEFT_ERR code and a 4xx status;
//   - the outcome does not depend on how the bytes were split into reads;
//   - against node's own parser (llhttp, behind a real http.createServer on 127.0.0.1 — the
//     parser of the node:http path it replaces) it agrees on every message both accept (method,
//     target, version, raw header lines, body, trailers, upgrade), never accepts what node
//     refuses, and refuses what node accepts only in the documented stricter shapes
//     (tests/agent/http1/oracle-compare.ts STRICTER; agent/http1/README.md says why).
// The corpus (tests/fuzz/corpus/h1-requests.json) replays kept inputs first.
import t from 'tap';
import fc from 'fast-check';
import { H1ParseError } from '../../agent/http1/parse-error.ts';
import { bytewise, drive, pieces, summary, type Outcome } from '../agent/http1/drive.ts';
import { LlhttpOracle } from '../agent/http1/llhttp-oracle.ts';
import { disagreement } from '../agent/http1/oracle-compare.ts';
import { assertProperty, corpus, runs } from './fuzz.ts';

const RUNS = runs(1500);
const ORACLE_RUNS = runs(400);
const CODES = new Set(['WEFT_ERR_HTTP_MALFORMED', 'WEFT_ERR_HTTP_FRAMING', 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE', 'WEFT_ERR_HTTP_URI_TOO_LONG']);

// ---- generators: mostly well-formed requests, with every piece sometimes wrong ----
const eol = fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r');
const sp = fc.constantFrom(' ', ' ', ' ', ' ', ' ', ' ', '  ', '\t');
const method = fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'CONNECT', 'DELETE', 'PATCH', 'M-SEARCH', 'QUERY', 'get', 'FOO', 'PRI', '');
const target = fc.oneof(
  fc.constantFrom('/', '/a?b=c', '*', 'http://h/x', 'HTTPS://h:8/', 'h:80', '[::1]:443', '/a b', '/\u0001', '/\u00e9', 'ftp://h/', '//x', '/#f', 'admin', '', 'http://u@h/'),
  fc.stringMatching(/^\/[!-~]{0,10}$/),
);
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/0.9', '');
const name = fc.oneof(
  fc.constantFrom('Host', 'host', 'HOST', 'Content-Length', 'content-length', 'Transfer-Encoding', 'transfer-encoding', 'Connection', 'Upgrade', 'Expect', 'X-A', 'Bad Name', 'X\u007f', '', 'Transfer-Encoding ', 'X\u00e9', 'Cookie'),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}$/),
);
const colon = fc.constantFrom(': ', ': ', ': ', ':', ' : ', ':\t', ':  ');
const value = fc.oneof(
  fc.constantFrom('', 'x', 'h:80', '[::1]:80', 'a b', 'u@h', 'chunked', 'CHUNKED', 'gzip, chunked', 'chunked, gzip', 'identity', '0', '3', '03', '-1', '1 2', '4, 4', '99999999999999999999', 'close', 'keep-alive', 'upgrade', 'Upgrade, close', 'websocket', '100-continue', 'a\u0000b', 'a\u007f', 'caf\u00e9', 'a\rb', ' padded ', 'a\tb'),
  fc.stringMatching(/^[ -~]{0,10}$/),
);
const field = fc.tuple(name, colon, value, eol).map(([n, c, v, e]) => `${n}${c}${v}${e}`);
const fieldLines = fc.array(fc.oneof({ weight: 12, arbitrary: field }, { weight: 1, arbitrary: fc.constantFrom(' folded\r\n', '\tfolded\r\n') }), { maxLength: 5 });
const host = fc.constantFrom('Host: h\r\n', 'Host: h\r\n', 'Host: h\r\n', 'Host: h\r\n', 'Host: [::1]:80\r\n', '');
const data = fc.string({ unit: fc.constantFrom('a', 'b', '\r', '\n', '0', ';', ' ', '\u00ff'), minLength: 1, maxLength: 6 });
const chunk = fc.tuple(data, fc.constantFrom('', '', '', ';a=b', ';a="x y"', ';a', ' ;a', ';a b', ';a="\u00e9"', ';=b', ';a="q\\"z"'), fc.constantFrom('exact', 'exact', 'exact', 'exact', 'upper', 'lead0', 'wrong', '0x', 'space'), fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\n', 'X\r\n'))
  .map(([d, ext, size, end]) => {
    const hex = d.length.toString(16);
    const s = size === 'upper' ? hex.toUpperCase() : size === 'lead0' ? `00${hex}` : size === 'wrong' ? (d.length + 1).toString(16) : size === '0x' ? `0x${hex}` : size === 'space' ? `${hex} ` : hex;
    return `${s}${ext}\r\n${d}${end}`;
  });
const chunked = fc.tuple(fc.array(chunk, { maxLength: 3 }), fc.constantFrom('0', '0', '0', '00', '0;e=1'), fc.array(field, { maxLength: 2 }), eol)
  .map(([cs, last, trailers, end]) => `${cs.join('')}${last}\r\n${trailers.join('')}${end}`);
const framed = fc.oneof(
  fc.constant({ header: '', body: '' }),
  fc.string({ unit: fc.constantFrom('a', 'b', 'G', ' ', '\r', '\n'), maxLength: 8 }).map((b) => ({ header: `Content-Length: ${b.length}\r\n`, body: b })),
  chunked.map((b) => ({ header: 'Transfer-Encoding: chunked\r\n', body: b })),
  fc.string({ maxLength: 6 }).map((b) => ({ header: '', body: b })),
);
const message = fc.tuple(fc.constantFrom('', '', '', '', '\r\n'), method, sp, target, sp, version, eol, host, fieldLines, framed, eol)
  .map(([lead, m, s1, tg, s2, v, e1, h, fs, f, e2]) => `${lead}${m}${s1}${tg}${s2}${v}${e1}${h}${fs.join('')}${f.header}${e2}${f.body}`);
const mutation = fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('replace', 'insert', 'delete')), { freq: 4 });
const wire = fc.tuple(fc.array(message, { minLength: 1, maxLength: 3 }), mutation).map(([ms, mut]) => {
  const b = Buffer.from(ms.join(''), 'latin1');
  if (mut === null || b.length === 0) return b;
  const [at, byte, how] = mut;
  const i = at % b.length;
  if (how === 'replace') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i + 1)]);
  if (how === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
  return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
});
const cuts = fc.array(fc.nat(), { maxLength: 6 });

/** The outcome of one whole read, checked against random splits and bytewise; throws on a difference. */
function parseChecked(bytes: Buffer, at: readonly number[]): Outcome {
  const whole = drive([bytes]);
  const want = JSON.stringify(summary(whole));
  const sorted = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const split = JSON.stringify(summary(drive(pieces(bytes, sorted))));
  if (split !== want) throw new Error(`split at ${sorted.join(',')} differs:\n${split}\nvs whole:\n${want}`);
  if (bytes.length < 300) {
    const bw = JSON.stringify(summary(drive(bytewise(bytes))));
    if (bw !== want) throw new Error(`bytewise differs:\n${bw}\nvs whole:\n${want}`);
  }
  const e = whole.error;
  if (e !== null && (!(e instanceof H1ParseError) || !CODES.has(e.code) || e.status < 400 || e.status > 499)) throw new Error(`not a clean refusal: ${String(e)}`);
  return whole;
}

const oracle = await LlhttpOracle.start();
t.teardown(() => oracle.close());

async function agrees(bytes: Buffer): Promise<string | null> {
  const ours = parseChecked(bytes, [1, 7, 19]);
  return disagreement(ours, await oracle.parse(bytes), bytes.toString('latin1'));
}

t.test('corpus: kept inputs are split-invariant and agree with llhttp (or are stricter as documented)', async (t) => {
  for (const e of corpus<string>('h1-requests')) {
    const bytes = Buffer.from(e.input, 'latin1');
    t.equal(await agrees(bytes), null, e.note);
    const want = e.note.split(': ')[0];
    const o = drive([bytes]);
    const got = o.error === null ? `${o.messages.length} accepted` : o.error.rule;
    t.equal(got, want, `${e.note} (outcome)`);
  }
});

t.test('any generated request: never a throw, the same outcome in any split', async (t) => {
  assertProperty(fc.property(wire, cuts, (b, at) => {
    parseChecked(b, at);
    return true;
  }), RUNS);
  assertProperty(fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (b, at) => {
    parseChecked(Buffer.from(b), at);
    return true;
  }), RUNS);
  t.pass(`${RUNS} generated requests and ${RUNS} random byte strings`);
});

t.test('against llhttp behind a real node:http server: agree, or ours is stricter as documented', async (t) => {
  await fc.assert(fc.asyncProperty(wire, async (b) => {
    const why = await agrees(b);
    if (why !== null) throw new Error(`${why}\ninput: ${JSON.stringify(b.toString('latin1'))}`);
    return true;
  }), { numRuns: ORACLE_RUNS, verbose: 1 });
  t.pass(`${ORACLE_RUNS} inputs through both parsers`);
});
