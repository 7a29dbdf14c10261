// HPACK (RFC 7541) rules beyond Appendix C: the Huffman code against rows of Appendix B, the
// decoder's refusals (each a COMPRESSION_ERROR), table-size updates (§4.2, §6.3), eviction
// (§4.4), the header-list cap, and encoder/decoder round trips.
import t, { type Test } from 'tap';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode, huffmanLength } from '../../../agent/h2/hpack-huffman.ts';
import { HpackDecoder } from '../../../agent/h2/hpack-decoder.ts';
import { HpackEncoder } from '../../../agent/h2/hpack-encoder.ts';
import { isWeftError } from '../../../common/errors.ts';
import { H2Error } from '../../../agent/h2/h2-error.ts';
import { H2Code } from '../../../agent/h2/constants.ts';

// [symbol, code as printed in Appendix B (hex, right-aligned), bits]
const APPENDIX_B_ROWS: [number, number, number][] = [
  [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [13, 0x3ffffffd, 30], [22, 0x3ffffffe, 30],
  [32, 0x14, 6], [48, 0x0, 5], [58, 0x5c, 7], [60, 0x7ffc, 15], [92, 0x7fff0, 19], [97, 0x3, 5], [122, 0x7b, 7],
  [123, 0x7ffe, 15], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [195, 0x7fff1, 19], [200, 0x3ffffe2, 26],
  [220, 0xffffffd, 28], [249, 0xffffffe, 28], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
];

t.test('Huffman codes derived from the lengths equal Appendix B rows', async (t) => {
  for (const [sym, code, bits] of APPENDIX_B_ROWS) {
    t.equal(HUFFMAN_LENGTHS[sym], bits, `symbol ${sym} length`);
    t.equal(HUFFMAN_CODES[sym], code, `symbol ${sym} code`);
  }
  // The code is complete (Kraft sum exactly 1) and prefix-free: what a canonical derivation from correct lengths gives.
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** -HUFFMAN_LENGTHS[s];
  t.equal(kraft, 1);
});

t.test('Huffman: every octet round-trips; lengths agree with the encoder', async (t) => {
  let all = '';
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  for (const s of [all, all.split('').reverse().join(''), '', 'a', 'www.example.com', '\u00ff'.repeat(33)]) {
    const buf = Buffer.alloc(huffmanLength(s));
    t.equal(huffmanEncode(s, buf, 0), buf.length);
    t.equal(huffmanDecode(buf, 0, buf.length), s);
  }
});

function compressionError(t: Test, f: () => void, why: string): void {
  try {
    f();
    t.fail(`${why}: accepted`);
  } catch (e) {
    t.ok(e instanceof H2Error && e.h2code === H2Code.COMPRESSION_ERROR && e.streamId === 0 && isWeftError(e, 'WEFT_ERR_H2_COMPRESSION'), why);
  }
}

t.test('Huffman refusals (§5.2): EOS in the data, padding over 7 bits, padding not ones', async (t) => {
  // EOS (30 ones) followed by padding: 0xff 0xff 0xff 0xff.
  compressionError(t, () => huffmanDecode(Buffer.from('ffffffff', 'hex'), 0, 4), 'EOS decoded');
  // 'a' (00011) then 11 one-bits of padding: 0x1f 0xff.
  compressionError(t, () => huffmanDecode(Buffer.from('1fff', 'hex'), 0, 2), 'padding of 11 bits');
  // 'a' (00011) then padding 000 (not the EOS prefix).
  compressionError(t, () => huffmanDecode(Buffer.from('18', 'hex'), 0, 1), 'zero padding');
  t.equal(huffmanDecode(Buffer.from('1f', 'hex'), 0, 1), 'a', "'a' with 3 bits of one-padding is fine");
});

const d = (hex: string, opts?: ConstructorParameters<typeof HpackDecoder>[0]): string[] => {
  const dec = new HpackDecoder(opts);
  const out: string[] = [];
  const b = Buffer.from(hex, 'hex');
  dec.decode(b, 0, b.length, out);
  return out;
};

t.test('decoder refusals are COMPRESSION_ERROR connection errors', async (t) => {
  compressionError(t, () => d('80'), 'indexed field with index 0 (§6.1)');
  compressionError(t, () => d('be'), 'index 62 with an empty dynamic table');
  compressionError(t, () => d('ff'), 'truncated integer');
  compressionError(t, () => d('ffffffffffffff7f'), 'integer over 2^31');
  compressionError(t, () => d('400a6375'), 'string longer than the block');
  compressionError(t, () => d('40'), 'literal without its name');
  compressionError(t, () => d('8220'), 'table size update after a field (§4.2)');
  compressionError(t, () => d('3fe21f'), 'table size update over the announced 4096 (§6.3)');
  t.same(d('3fe11f82'), [':method', 'GET'], 'size update to exactly 4096 first: fine');
});

t.test('§4.2: after our SETTINGS_HEADER_TABLE_SIZE went down, the next block must open with a size update', async (t) => {
  const dec = new HpackDecoder();
  dec.setMaxTableSize(100);
  const out: string[] = [];
  compressionError(t, () => dec.decode(Buffer.from('82', 'hex'), 0, 1, out), 'no size update');
  const dec2 = new HpackDecoder();
  dec2.setMaxTableSize(100);
  const b = Buffer.from('3f4582', 'hex'); // update to 31+0x45=100, then :method GET
  dec2.decode(b, 0, b.length, out);
  t.equal(dec2.table.maxSize, 100);
});

t.test('§4.4 eviction: an entry larger than the table empties it', async (t) => {
  const dec = new HpackDecoder({ maxTableSize: 100 });
  const out: string[] = [];
  const add = (name: string, value: string): void => {
    const b = Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
    dec.decode(b, 0, b.length, out);
  };
  add('a', 'x'.repeat(20)); // 53
  add('b', 'y'.repeat(20)); // 53: evicts a (106 > 100)
  t.equal(dec.table.length, 1);
  t.equal(dec.table.name(1), 'b');
  add('c', 'z'.repeat(100)); // 133 > 100: table emptied, not added
  t.equal(dec.table.length, 0);
  t.equal(dec.table.size, 0);
});

t.test('header-list cap: decode reports the overflow, keeps decoding, and the table stays in step', async (t) => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder({ maxHeaderListSize: 200 });
  const big = enc.encode(['x-a', 'a'.repeat(100), 'x-b', 'b'.repeat(100), 'x-c', 'c']);
  const out: string[] = [];
  t.equal(dec.decode(Buffer.from(big), 0, big.length, out), false);
  t.same(out, ['x-a', 'a'.repeat(100)], 'fields past the cap are dropped');
  const again = enc.encode(['x-b', 'b'.repeat(100)]);
  const out2: string[] = [];
  dec.decode(Buffer.from(again), 0, again.length, out2);
  t.same(out2, ['x-b', 'b'.repeat(100)], 'the entry added past the cap is in the table');
  t.equal(again.length, 1, 'and the encoder referenced it by index');
});

t.test('encoder: sensitive fields never indexed (§7.1.3), per-request values not indexed, size updates signalled', async (t) => {
  const enc = new HpackEncoder();
  const b = Buffer.from(enc.encode(['authorization', 'Bearer secret', ':path', '/a?b=1', 'x-app', 'v']));
  t.equal(b[0] & 0xf0, 0x10, 'authorization: literal never indexed');
  t.equal(enc.table.length, 1, 'only x-app entered the table');
  enc.setMaxTableSize(0);
  enc.setMaxTableSize(1024);
  const u = Buffer.from(enc.encode([':method', 'GET']));
  t.equal(u.toString('hex'), '20' + '3fe107' + '82', 'smallest size (0), then the final 1024, then the field');
  const dec = new HpackDecoder({ maxTableSize: 4096 });
  const out: string[] = [];
  dec.decode(u, 0, u.length, out);
  t.equal(dec.table.maxSize, 1024);
});

t.test('round trip: many header lists through one encoder/decoder pair (tables evolve in step)', async (t) => {
  const enc = new HpackEncoder(512);
  const dec = new HpackDecoder({ maxTableSize: 512 });
  for (let i = 0; i < 500; i++) {
    const list = [':method', i % 2 ? 'GET' : 'POST', ':path', `/p/${i}`, 'x-n', String(i % 7), 'x-long', 'l'.repeat(i % 300), 'user-agent', 'weft-test'];
    const b = Buffer.from(enc.encode(list));
    const out: string[] = [];
    dec.decode(b, 0, b.length, out);
    if (JSON.stringify(out) !== JSON.stringify(list)) {
      t.fail(`list ${i} differs`);
      return;
    }
  }
  t.pass('500 lists');
});

t.test('encoder: a repeated field is one indexed octet, an older value of the same name too, an evicted one a literal again', async (t) => {
  // Sizes by hand from §6.1 / §6.2.1: an indexed field is one octet while its index is under 127;
  // a field first seen (a new name) is a literal with incremental indexing (0x40) and two strings.
  const enc = new HpackEncoder(4096);
  const dec = new HpackDecoder({ maxTableSize: 4096 });
  const round = (list: string[]): Buffer => {
    const b = Buffer.from(enc.encode(list));
    const out: string[] = [];
    dec.decode(b, 0, b.length, out);
    t.same(out, list, 'decodes to what was encoded');
    return b;
  };
  const first = round(['x-a', 'one']);
  t.equal(first[0], 0x40, 'new name: literal with incremental indexing, name as a string');
  t.same([...round(['x-a', 'one'])], [0x80 | 62], 'the same field again: dynamic index 62 (the newest)');
  round(['x-a', 'two']);
  t.same([...round(['x-a', 'one'])], [0x80 | 63], 'the older value of the name: still indexed, now 63');
  t.same([...round(['x-a', 'two'])], [0x80 | 62], 'the newer one: 62');
  // A small table evicts: 'x-b: v0' (39 octets with the 32 of overhead) is gone after two more.
  const small = new HpackEncoder(100);
  const sdec = new HpackDecoder({ maxTableSize: 100 });
  const sround = (list: string[]): Buffer => {
    const b = Buffer.from(small.encode(list));
    const out: string[] = [];
    sdec.decode(b, 0, b.length, out);
    t.same(out, list);
    return b;
  };
  sround(['x-b', 'v0']);
  sround(['x-b', 'v1']);
  sround(['x-b', 'v2']);
  const again = sround(['x-b', 'v0']);
  t.not(again[0] & 0x80, 0x80, 'an evicted value is not referenced: a literal, not an index');
  t.equal(again[0] & 0xc0, 0x40, '…with incremental indexing, its name by the newest entry of x-b');
});

t.test('encoder memory stays bounded over many distinct values of few names (pruned with the table)', async (t) => {
  const enc = new HpackEncoder(256);
  const dec = new HpackDecoder({ maxTableSize: 256 });
  for (let i = 0; i < 20_000; i++) {
    const list = ['x-id', String(i), 'x-grp', String(i % 5)];
    const b = Buffer.from(enc.encode(list));
    const out: string[] = [];
    dec.decode(b, 0, b.length, out);
    if (out.join() !== list.join()) {
      t.fail(`list ${i} differs`);
      return;
    }
  }
  // The table holds at most 256 / 33 ≈ 7 entries; the encoder prunes what it remembers past
  // 4 × (entries + 16), so 40 000 distinct values leave it with a few dozen.
  for (let i = 0; i < 20_000; i++) enc.encode(['x-id', `again-${i}`]);
  t.ok(enc.remembered <= 4 * (enc.table.length + 16), `remembers ${enc.remembered} pairs for ${enc.table.length} table entries`);
  t.ok(enc.remembered >= enc.table.length, 'and every entry the table holds (all distinct here) is still remembered');
});
