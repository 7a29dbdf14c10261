// The HPACK Huffman code (RFC 7541 §5.2, Appendix B). The code in Appendix B is canonical
// (codes of one length are consecutive, ordered by symbol; each length continues from the last
// code of the shorter one, shifted), so the code lengths below are the whole fact: the codes are
// derived from them at load, and tests/agent/h2/hpack-huffman.test.ts checks codes printed in the
// RFC and the Appendix C vectors against the derivation.
//
// Decoding runs a 4-bit state machine built from the code tree on the first decode: 256 states (the tree's
// internal nodes) × 16 nibbles, each step emitting at most one symbol (the shortest code is 5
// bits, so a nibble completes at most one). No per-bit loop, no allocation but the output.
import { H2Code } from './constants.ts';
import { connError } from './h2-error.ts';

// Code length of symbols 0..255 and EOS (256), RFC 7541 Appendix B.
// prettier-ignore
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,         // ' ' - '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,              // '0' - '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                // '@' - 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,             // 'P' - '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,                // '`' - 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,            // 'p' - 127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30,                                                             // EOS
];

const EOS = 256;

/** Canonical codes from LENGTHS: HUFFMAN_CODES[sym] (right-aligned), HUFFMAN_LENGTHS[sym]. */
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from(LENGTHS);
export const HUFFMAN_CODES: Uint32Array = (() => {
  const codes = new Uint32Array(257);
  const order = [...Array(257).keys()].sort((a, b) => LENGTHS[a] - LENGTHS[b] || a - b);
  let code = 0;
  let len = LENGTHS[order[0]];
  for (let i = 0; i < order.length; i++) {
    const sym = order[i];
    if (i > 0) {
      code += 1;
      code = code * 2 ** (LENGTHS[sym] - len);
      len = LENGTHS[sym];
    }
    codes[sym] = code;
  }
  return codes;
})();

// Decoding tables. A state is an internal node of the code tree (0 = root). For state s and
// nibble n, STEP[s*16+n] = next state | EMIT (a symbol completed, SYMBOL[s*16+n]) | FAIL (EOS
// decoded: an error, §5.2). ACCEPT[s]: ending here is valid padding (root, or a path of at most
// 7 one-bits: the most significant bits of EOS).
const EMIT = 0x100;
const FAIL = 0x200;
const STEP = new Uint16Array(256 * 16);
const SYMBOL = new Uint8Array(256 * 16);
const ACCEPT = new Uint8Array(256);
/**
 * The tables are built on the first decode, not at load: the build is ~20 000 loop iterations,
 * enough for V8 to compile the module's start-up code with TurboFan on some starts, which maps
 * ~4.4 MiB more of the node binary's code into an agent that then sits idle (docs/design-notes.md,
 * issue 19, session 10). An agent that never decodes HPACK never builds them.
 */
let tablesBuilt = false;

function buildDecodeTables(): void {
  tablesBuilt = true;
  // Build the tree: child[node*2+bit] = internal node id, or -(sym+1) for a leaf.
  const child = new Int32Array(256 * 2);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = LENGTHS[sym];
    const code = HUFFMAN_CODES[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        child[slot] = -(sym + 1);
      } else {
        if (child[slot] === 0) child[slot] = nodes++;
        node = child[slot];
      }
    }
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman tree has ${nodes} internal nodes, expected 256`);
  // ACCEPT: nodes reached from the root by 1..7 one-bits, and the root.
  ACCEPT[0] = 1;
  let n = 0;
  for (let depth = 1; depth <= 7; depth++) {
    n = child[n * 2 + 1];
    ACCEPT[n] = 1;
  }
  for (let s = 0; s < 256; s++) {
    for (let nib = 0; nib < 16; nib++) {
      let node = s;
      let flags = 0;
      let sym = 0;
      for (let i = 3; i >= 0; i--) {
        const next = child[node * 2 + ((nib >> i) & 1)];
        if (next < 0) {
          if (-next - 1 === EOS) {
            flags = FAIL;
            break;
          }
          flags = EMIT;
          sym = -next - 1;
          node = 0;
        } else {
          node = next;
        }
      }
      STEP[s * 16 + nib] = flags | (flags === FAIL ? 0 : node);
      SYMBOL[s * 16 + nib] = sym;
    }
  }
}

/** Octets latin1 string `s` takes Huffman-coded, padding included. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >> 3;
}

/**
 * Writes the Huffman coding of latin1 string `s` into `out` at `pos` (room for huffmanLength(s)
 * octets must be there) and returns the position after it. Padding is the top bits of EOS.
 */
export function huffmanEncode(s: string, out: Uint8Array, pos: number): number {
  // A 32-bit accumulator holding fewer than 8 pending bits between symbols; codes longer than
  // 24 bits (rare octets) go in two pieces so the accumulator never passes 31 bits.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[sym];
    let code = HUFFMAN_CODES[sym];
    if (len > 24) {
      acc = (acc << (len - 16)) | (code >>> 16);
      bits += len - 16;
      while (bits >= 8) {
        bits -= 8;
        out[pos++] = acc >>> bits;
        acc &= (1 << bits) - 1;
      }
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      out[pos++] = acc >>> bits;
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[pos++] = (acc << (8 - bits)) | (0xff >> bits);
  return pos;
}

const scratch = { buf: Buffer.allocUnsafe(4096) };

/**
 * Decodes Huffman-coded `src[start, end)` into a latin1 string. Throws a COMPRESSION_ERROR
 * (connection) for EOS in the data or padding that is not the top bits of EOS or longer than 7
 * bits (§5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  if (!tablesBuilt) buildDecodeTables();
  // Output is at most 8/5 of the input.
  const need = Math.ceil(((end - start) * 8) / 5);
  if (scratch.buf.length < need) scratch.buf = Buffer.allocUnsafe(Math.max(need, scratch.buf.length * 2));
  const out = scratch.buf;
  let o = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = src[i];
    let e = STEP[state * 16 + (b >> 4)];
    if (e & FAIL) throw connError(H2Code.COMPRESSION_ERROR, 'HPACK: EOS inside a Huffman-coded string');
    if (e & EMIT) out[o++] = SYMBOL[state * 16 + (b >> 4)];
    state = e & 0xff;
    e = STEP[state * 16 + (b & 0xf)];
    if (e & FAIL) throw connError(H2Code.COMPRESSION_ERROR, 'HPACK: EOS inside a Huffman-coded string');
    if (e & EMIT) out[o++] = SYMBOL[state * 16 + (b & 0xf)];
    state = e & 0xff;
  }
  if (ACCEPT[state] === 0) throw connError(H2Code.COMPRESSION_ERROR, 'HPACK: Huffman padding is not a prefix of EOS of at most 7 bits');
  return out.toString('latin1', 0, o);
}
