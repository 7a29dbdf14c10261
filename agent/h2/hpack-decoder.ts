// HPACK decoding (RFC 7541 §3, §5, §6) of one complete header block into a flat list
// [name0, value0, name1, value1, …] of latin1 strings: no object per field. Every malformed
// block is a COMPRESSION_ERROR (a connection error: the dynamic table is out of step after it).
//
// HPACK bombs: the decoded size (name + value + 32 per field, §10.5.1 of RFC 9113) is counted
// against `maxHeaderListSize`; past it the block is still decoded to the end — the dynamic table
// must stay in step with the peer's — but no further field is kept, and `decode` reports the
// overflow so the connection refuses the stream (a stream error, the connection survives). The
// work is bounded by the encoded size, which the connection caps (CONTINUATION floods).
import { H2Code } from './constants.ts';
import { connError } from './h2-error.ts';
import { DynamicTable, ENTRY_OVERHEAD } from './hpack-dynamic-table.ts';
import { huffmanDecode } from './hpack-huffman.ts';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from './hpack-static-table.ts';

export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE this side announced (default 4096). */
  maxTableSize?: number;
  /** The SETTINGS_MAX_HEADER_LIST_SIZE this side announced (default 64 KiB). */
  maxHeaderListSize?: number;
}

function compression(message: string): Error {
  return connError(H2Code.COMPRESSION_ERROR, `HPACK: ${message}`);
}

/** Largest integer we accept (§5.1 leaves it to the implementation): fits the 2^31 window space. */
const MAX_INT = 2 ** 31 - 1;

export class HpackDecoder {
  readonly table: DynamicTable;
  /** The limit a size update may not exceed: the settings value this side announced. */
  #maxTableSize: number;
  /** A lowered limit took effect: the next block must start with a size update (§4.2). */
  #updateRequired = false;
  maxHeaderListSize: number;
  // Integer/string read cursor, kept on the instance (no tuple results, no closures).
  #pos = 0;

  constructor(opts: HpackDecoderOptions = {}) {
    this.#maxTableSize = opts.maxTableSize ?? 4096;
    this.maxHeaderListSize = opts.maxHeaderListSize ?? 65_536;
    this.table = new DynamicTable(this.#maxTableSize);
  }

  /**
   * The SETTINGS_HEADER_TABLE_SIZE this side announced, once the peer acknowledged it. A lower
   * value than the table's current maximum obliges the peer to open its next block with a size
   * update (§4.2).
   */
  setMaxTableSize(n: number): void {
    if (n < this.table.maxSize) this.#updateRequired = true;
    this.#maxTableSize = n;
  }

  /**
   * Decodes `block[start, end)` into `out` (appended as name, value pairs). Returns false when
   * the header list went over `maxHeaderListSize` (fields past the limit are not in `out`).
   */
  decode(block: Buffer, start: number, end: number, out: string[]): boolean {
    this.#pos = start;
    let listSize = 0;
    let within = true;
    let fields = 0;
    while (this.#pos < end) {
      const b = block[this.#pos];
      let name: string;
      let value: string;
      if (b & 0x80) {
        // §6.1 indexed field.
        const idx = this.#int(block, end, 7);
        if (idx === 0) throw compression('index 0 in an indexed field');
        name = this.#name(idx);
        value = this.#value(idx);
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 dynamic table size update: only at the start of a block, within the announced limit.
        if (fields > 0) throw compression('dynamic table size update after a field');
        const size = this.#int(block, end, 5);
        if (size > this.#maxTableSize) throw compression(`table size update to ${size} over the announced ${this.#maxTableSize}`);
        this.table.setMaxSize(size);
        this.#updateRequired = false;
        continue;
      } else {
        // §6.2 literals: with incremental indexing (01), without (0000), never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const idx = this.#int(block, end, indexing ? 6 : 4);
        name = idx === 0 ? this.#string(block, end) : this.#name(idx);
        value = this.#string(block, end);
        if (indexing) this.table.add(name, value);
      }
      if (this.#updateRequired) throw compression('the block does not start with the required table size update');
      fields++;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxHeaderListSize) within = false;
      if (within) out.push(name, value);
    }
    if (this.#updateRequired) throw compression('the block does not start with the required table size update');
    return within;
  }

  #name(idx: number): string {
    if (idx <= STATIC_TABLE_LENGTH) return STATIC_TABLE[idx - 1][0];
    const d = idx - STATIC_TABLE_LENGTH;
    if (d > this.table.length) throw compression(`index ${idx} beyond the tables`);
    return this.table.name(d);
  }

  #value(idx: number): string {
    if (idx <= STATIC_TABLE_LENGTH) return STATIC_TABLE[idx - 1][1];
    return this.table.value(idx - STATIC_TABLE_LENGTH);
  }

  /** §5.1: an N-bit prefix integer at #pos. */
  #int(buf: Uint8Array, end: number, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = buf[this.#pos++] & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (this.#pos >= end) throw compression('truncated integer');
      const b = buf[this.#pos++];
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if (v > MAX_INT) throw compression('integer too large');
      if ((b & 0x80) === 0) return v;
    }
  }

  /** §5.2: a string literal at #pos (H bit, length, octets). */
  #string(buf: Buffer, end: number): string {
    if (this.#pos >= end) throw compression('truncated string');
    const huffman = (buf[this.#pos] & 0x80) !== 0;
    const len = this.#int(buf, end, 7);
    const start = this.#pos;
    if (len > end - start) throw compression('string longer than the block');
    this.#pos = start + len;
    if (huffman) return huffmanDecode(buf, start, start + len);
    return buf.toString('latin1', start, start + len);
  }
}
