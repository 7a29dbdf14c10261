// RFC 7541 Appendix C as test vectors: the encoded blocks, the decoded header lists and the
// dynamic tables (entries and sizes) typed in from the RFC — an oracle independent of the codec.
// C.2 single representations, C.3/C.4 a request sequence without/with Huffman, C.5/C.6 a
// response sequence without/with Huffman under a 256-octet table (evictions).
import t, { type Test } from 'tap';
import { HpackDecoder } from '../../../agent/h2/hpack-decoder.ts';
import { HpackEncoder } from '../../../agent/h2/hpack-encoder.ts';
import type { DynamicTable } from '../../../agent/h2/hpack-dynamic-table.ts';

interface Step {
  id: string;
  hex: string;
  headers: [string, string][];
  table: [string, string][];
  size: number;
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function tableOf(d: DynamicTable): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 1; i <= d.length; i++) out.push([d.name(i), d.value(i)]);
  return out;
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function runSequence(t: Test, steps: Step[], tableSize: number): void {
  const d = new HpackDecoder({ maxTableSize: tableSize });
  for (const s of steps) {
    const out: string[] = [];
    t.equal(d.decode(hex(s.hex), 0, hex(s.hex).length, out), true, `${s.id}: within the header list limit`);
    t.same(pairs(out), s.headers, `${s.id}: header list`);
    t.same(tableOf(d.table), s.table, `${s.id}: dynamic table`);
    t.equal(d.table.size, s.size, `${s.id}: table size`);
  }
}

const C2: Step[] = [
  { id: 'C.2.1', hex: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', headers: [['custom-key', 'custom-header']], table: [['custom-key', 'custom-header']], size: 55 },
];
const C2_2: Step = { id: 'C.2.2', hex: '040c 2f73 616d 706c 652f 7061 7468', headers: [[':path', '/sample/path']], table: [], size: 0 };
const C2_3: Step = { id: 'C.2.3', hex: '1008 7061 7373 776f 7264 0673 6563 7265 74', headers: [['password', 'secret']], table: [], size: 0 };
const C2_4: Step = { id: 'C.2.4', hex: '82', headers: [[':method', 'GET']], table: [], size: 0 };

const REQ1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const T1: [string, string][] = [[':authority', 'www.example.com']];
const T2: [string, string][] = [['cache-control', 'no-cache'], [':authority', 'www.example.com']];
const T3: [string, string][] = [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']];

const C3: Step[] = [
  { id: 'C.3.1', hex: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', headers: REQ1, table: T1, size: 57 },
  { id: 'C.3.2', hex: '8286 84be 5808 6e6f 2d63 6163 6865', headers: REQ2, table: T2, size: 110 },
  { id: 'C.3.3', hex: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', headers: REQ3, table: T3, size: 164 },
];
const C4: Step[] = [
  { id: 'C.4.1', hex: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', headers: REQ1, table: T1, size: 57 },
  { id: 'C.4.2', hex: '8286 84be 5886 a8eb 1064 9cbf', headers: REQ2, table: T2, size: 110 },
  { id: 'C.4.3', hex: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', headers: REQ3, table: T3, size: 164 },
];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RES1: [string, string][] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES2: [string, string][] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES3: [string, string][] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RT1: [string, string][] = [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']];
const RT2: [string, string][] = [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']];
const RT3: [string, string][] = [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]];

const C5: Step[] = [
  {
    id: 'C.5.1',
    hex: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    headers: RES1, table: RT1, size: 222,
  },
  { id: 'C.5.2', hex: '4803 3330 37c1 c0bf', headers: RES2, table: RT2, size: 222 },
  {
    id: 'C.5.3',
    hex: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
    headers: RES3, table: RT3, size: 215,
  },
];
const C6: Step[] = [
  {
    id: 'C.6.1',
    hex: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    headers: RES1, table: RT1, size: 222,
  },
  { id: 'C.6.2', hex: '4883 640e ffc1 c0bf', headers: RES2, table: RT2, size: 222 },
  {
    id: 'C.6.3',
    hex: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    headers: RES3, table: RT3, size: 215,
  },
];

t.test('C.2: literal with indexing, without indexing, never indexed, indexed', async (t) => {
  runSequence(t, C2, 4096);
  for (const s of [C2_2, C2_3, C2_4]) runSequence(t, [s], 4096);
});

t.test('C.3: requests without Huffman', async (t) => runSequence(t, C3, 4096));
t.test('C.4: requests with Huffman', async (t) => runSequence(t, C4, 4096));
t.test('C.5: responses without Huffman, 256-octet table', async (t) => runSequence(t, C5, 256));
t.test('C.6: responses with Huffman, 256-octet table', async (t) => runSequence(t, C6, 256));

t.test('the encoder produces the C.4 blocks byte for byte (same choices as the RFC: index, Huffman when shorter)', async (t) => {
  const e = new HpackEncoder(4096);
  for (const s of C4) {
    const flat = s.headers.flat();
    t.equal(Buffer.from(e.encode(flat)).toString('hex'), hex(s.hex).toString('hex'), s.id);
    t.same(tableOf(e.table), s.table, `${s.id}: encoder table`);
  }
});

t.test('the C.6 header lists round-trip through the encoder and a fresh decoder (256-octet table)', async (t) => {
  const e = new HpackEncoder(256);
  const d = new HpackDecoder({ maxTableSize: 256 });
  for (const s of C6) {
    const block = Buffer.from(e.encode(s.headers.flat()));
    const out: string[] = [];
    d.decode(block, 0, block.length, out);
    t.same(pairs(out), s.headers, s.id);
  }
});
