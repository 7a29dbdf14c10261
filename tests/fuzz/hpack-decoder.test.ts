// The HPACK decoder (agent/h2/hpack-decoder.ts) under arbitrary blocks, and against nghttp2 as
// an independent encoder. What must hold:
//   - never a throw but WEFT_ERR_H2_COMPRESSION on arbitrary bytes (a corrupt block is a
//     COMPRESSION_ERROR, nothing else), and never a header list over the cap delivered;
//   - any header list through our encoder and decoder comes back the same, the two tables in step;
//   - what node:http2 (nghttp2's HPACK encoder) sends decodes to the headers it was given.
import t from 'tap';
import fc from 'fast-check';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { HpackDecoder } from '../../agent/h2/hpack-decoder.ts';
import { HpackEncoder } from '../../agent/h2/hpack-encoder.ts';
import { ENTRY_OVERHEAD } from '../../agent/h2/hpack-dynamic-table.ts';
import { valueOf } from '../../agent/h2/header-rules.ts';
import { CodecServer } from '../agent/h2/codec-peer.ts';
import { assertProperty, hexCorpus, onlyCodes, runs } from './fuzz.ts';

const RUNS = runs(2000);
const CODES = ['WEFT_ERR_H2_COMPRESSION'] as const;

t.test('corpus: each block decodes or is a COMPRESSION_ERROR', async (t) => {
  for (const e of hexCorpus('hpack-blocks')) {
    onlyCodes([...CODES], () => new HpackDecoder().decode(e.input, 0, e.input.length, []));
    t.pass(e.note);
  }
});

t.test('arbitrary blocks, several on one decoder: only COMPRESSION_ERROR, and never over the list cap', async (t) => {
  assertProperty(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 4096 }), (blocks, cap) => {
    const dec = new HpackDecoder({ maxHeaderListSize: cap });
    for (const b of blocks) {
      const out: string[] = [];
      const r = onlyCodes([...CODES], () => dec.decode(Buffer.from(b), 0, b.length, out));
      if (r === undefined) return true; // the connection would be closed: later blocks are moot
      let size = 0;
      for (let i = 0; i < out.length; i += 2) size += out[i].length + out[i + 1].length + ENTRY_OVERHEAD;
      if (size > cap) return false;
      if (dec.table.size > dec.table.maxSize) return false;
    }
    return true;
  }), RUNS);
  t.pass(`${RUNS} block sequences`);
});

const name = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
const value = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const headerList = fc.array(fc.tuple(fc.oneof(name, fc.constantFrom(':path', ':method', 'cookie', 'authorization', 'content-type', 'user-agent')), value), { maxLength: 12 });

t.test('round trip: encoder → decoder gives back every list, tables in step', async (t) => {
  assertProperty(fc.property(fc.array(headerList, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 4096 }), (lists, size) => {
    const enc = new HpackEncoder(4096);
    const dec = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });
    enc.setMaxTableSize(size);
    for (const l of lists) {
      const flat = l.flat();
      const b = Buffer.from(enc.encode(flat));
      const out: string[] = [];
      dec.decode(b, 0, b.length, out);
      if (out.length !== flat.length || out.some((x, i) => x !== flat[i])) return false;
      if (dec.table.size !== enc.table.size || dec.table.length !== enc.table.length) return false;
    }
    return true;
  }), RUNS);
  t.pass(`${RUNS} list sequences`);
});

t.test('oracle: header lists encoded by node:http2 (nghttp2) decode to what was sent', async (t) => {
  const server = net.createServer((sock) => {
    const s = new CodecServer();
    s.attach(sock);
    seen.push(s);
  });
  const seen: CodecServer[] = [];
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => {
    session.destroy();
    server.close();
  });
  // Values nghttp2 accepts: visible ASCII and spaces inside, no leading/trailing space.
  const v = fc.stringMatching(/^[!-~]([ -~]{0,40}[!-~])?$/);
  const nodeList = fc.uniqueArray(fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,15}$/), v), { maxLength: 10, selector: ([n]) => n });
  await once(session, 'connect');
  const runsHere = runs(60);
  let checked = 0;
  await fc.assert(fc.asyncProperty(nodeList, async (list) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': '/echo' };
    for (const [n, val] of list) headers[n] = val;
    const req = session.request(headers);
    req.end();
    req.resume();
    await once(req, 'close');
    const got = seen[0]?.heads.at(-1) ?? [];
    for (const [n, val] of list) if (valueOf(got, n) !== val) return false;
    checked++;
    return true;
  }), { numRuns: runsHere });
  t.equal(checked, runsHere, `${runsHere} lists from nghttp2, on one connection (its dynamic table evolving)`);
});
