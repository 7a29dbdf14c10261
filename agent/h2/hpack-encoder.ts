// HPACK encoding (RFC 7541 §6): a header list [name0, value0, …] into one block. Names are
// expected lower-case (HTTP/2 requires it; the caller's job). The choices:
//  - a full match in the static or dynamic table: indexed (§6.1);
//  - sensitive fields (authorization, proxy-authorization, short cookies: §7.1.3) never indexed;
//  - fields that change per request (:path, content-length, dates, etags…) or are large: literal
//    without indexing, so they do not churn out the entries that repeat;
//  - everything else: literal with incremental indexing;
//  - string literals Huffman-coded when that is shorter.
// A table size change from the peer's SETTINGS is signalled by a size update at the start of
// the next block (§4.2), the smallest value first if it went down and up again.
import { DynamicTable, ENTRY_OVERHEAD } from './hpack-dynamic-table.ts';
import { huffmanEncode, huffmanLength } from './hpack-huffman.ts';
import { STATIC_NAME_INDEX, STATIC_TABLE_LENGTH, STATIC_VALUE_INDEX } from './hpack-static-table.ts';

const NEVER_INDEX = new Set(['authorization', 'proxy-authorization']);
const NOT_INDEXED = new Set([':path', 'content-length', 'date', 'etag', 'if-modified-since', 'if-none-match', 'last-modified', 'location', 'set-cookie', 'age', 'expires', 'content-range', 'range', 'x-request-id', 'traceparent', 'tracestate']);

/**
 * What the dynamic table holds under one name: its newest entry (value and `inserted` count), and
 * older values still possibly in the table. Most fields repeat their last value on a connection
 * (content-type, user-agent, weft-proto…): that case is one name lookup and one string compare,
 * with no "name\0value" key built and hashed per field.
 */
interface NameEntries {
  value: string;
  n: number;
  /** value → `inserted` count, for the older entries of this name (newest wins); null while none. */
  older: Map<string, number> | null;
}

export class HpackEncoder {
  readonly table: DynamicTable;
  /** name → its entries in the dynamic table (pruned as they are evicted). */
  readonly #entries = new Map<string, NameEntries>();
  /** Values remembered across #entries (what #prune bounds). */
  #remembered = 0;
  #pendingMin = -1;
  #pendingSize = -1;
  /**
   * Reused across blocks; grows to the largest block written (starts small: one per connection).
   * Not from Node's shared pool: a long-lived slice would keep a whole 8 KiB pool chunk alive.
   */
  #out: Buffer = Buffer.allocUnsafeSlow(256);
  #pos = 0;

  constructor(maxTableSize = 4096) {
    this.table = new DynamicTable(maxTableSize);
  }

  /** How many (name, value) pairs the encoder remembers: never more than 4 × (table entries + 16). */
  get remembered(): number {
    return this.#remembered;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE (we use all of it, up to 64 KiB). */
  setMaxTableSize(n: number): void {
    const size = Math.min(n, 65_536);
    if (size === this.table.maxSize && this.#pendingSize === -1) return;
    this.#pendingMin = this.#pendingMin === -1 ? size : Math.min(this.#pendingMin, size);
    this.#pendingSize = size;
  }

  /** Encodes the header list; returns a Buffer that is valid until the next call (copy or write it before). */
  encode(headers: readonly string[]): Buffer {
    this.#pos = 0;
    if (this.#pendingSize !== -1) {
      if (this.#pendingMin < this.#pendingSize) {
        this.table.setMaxSize(this.#pendingMin);
        this.#int(this.#pendingMin, 5, 0x20);
      }
      this.table.setMaxSize(this.#pendingSize);
      this.#int(this.#pendingSize, 5, 0x20);
      this.#pendingMin = -1;
      this.#pendingSize = -1;
      this.#entries.clear();
      this.#remembered = 0;
    }
    for (let i = 0; i < headers.length; i += 2) this.#field(headers[i], headers[i + 1]);
    return this.#out.subarray(0, this.#pos);
  }

  #field(name: string, value: string): void {
    const sv = STATIC_VALUE_INDEX.get(name);
    if (sv !== undefined) {
      const s = sv.get(value);
      if (s !== undefined) return this.#int(s, 7, 0x80);
    }
    const e = this.#entries.get(name);
    if (e !== undefined) {
      const d = this.#dynIndex(e.value === value ? e.n : e.older?.get(value));
      if (d !== 0) return this.#int(d + STATIC_TABLE_LENGTH, 7, 0x80);
    }
    // A literal: its name by index when the static table or the dynamic one (newest entry) has it.
    let nameRef = STATIC_NAME_INDEX.get(name) ?? 0;
    if (nameRef === 0 && e !== undefined) {
      const dn = this.#dynIndex(e.n);
      if (dn !== 0) nameRef = dn + STATIC_TABLE_LENGTH;
    }
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (NEVER_INDEX.has(name) || (name === 'cookie' && value.length < 20)) {
      this.#int(nameRef, 4, 0x10);
    } else if (NOT_INDEXED.has(name) || size > this.table.maxSize / 2) {
      this.#int(nameRef, 4, 0x00);
    } else {
      this.#int(nameRef, 6, 0x40);
      this.table.add(name, value);
      this.#remember(e, name, value, this.table.inserted);
    }
    if (nameRef === 0) this.#string(name);
    this.#string(value);
  }

  /** `name: value` is the table's newest entry, inserted as number `n`. */
  #remember(e: NameEntries | undefined, name: string, value: string, n: number): void {
    this.#remembered++;
    if (e === undefined) {
      this.#entries.set(name, { value, n, older: null });
    } else {
      (e.older ??= new Map()).set(e.value, e.n);
      e.value = value;
      e.n = n;
    }
    if (this.#remembered > 4 * (this.table.length + 16)) this.#prune();
  }

  /** Dynamic index (1 = newest) of the entry inserted as number `n`, or 0 if it was evicted. */
  #dynIndex(n: number | undefined): number {
    if (n === undefined) return 0;
    const i = this.table.inserted - n + 1;
    return i <= this.table.length ? i : 0;
  }

  /** Forgets evicted entries (bounded memory). A name's newest entry goes last (FIFO eviction). */
  #prune(): void {
    let kept = 0;
    for (const [name, e] of this.#entries) {
      if (this.#dynIndex(e.n) === 0) {
        this.#entries.delete(name);
        continue;
      }
      kept++;
      const older = e.older;
      if (older === null) continue;
      for (const [v, n] of older) {
        if (this.#dynIndex(n) === 0 || v === e.value) older.delete(v);
        else kept++;
      }
      if (older.size === 0) e.older = null;
    }
    this.#remembered = kept;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#out.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.#out.length * 2, this.#pos + n));
    this.#out.copy(next, 0, 0, this.#pos);
    this.#out = next;
  }

  /** §5.1 integer with an N-bit prefix; `first` holds the pattern bits above the prefix. */
  #int(v: number, prefix: number, first: number): void {
    this.#ensure(6);
    const mask = (1 << prefix) - 1;
    if (v < mask) {
      this.#out[this.#pos++] = first | v;
      return;
    }
    this.#out[this.#pos++] = first | mask;
    v -= mask;
    while (v >= 128) {
      this.#out[this.#pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.#out[this.#pos++] = v;
  }

  /** §5.2 string literal, Huffman-coded when shorter. */
  #string(s: string): void {
    const h = huffmanLength(s);
    if (h < s.length) {
      this.#int(h, 7, 0x80);
      this.#ensure(h);
      this.#pos = huffmanEncode(s, this.#out, this.#pos);
    } else {
      this.#int(s.length, 7, 0x00);
      this.#ensure(s.length);
      this.#pos += this.#out.write(s, this.#pos, 'latin1');
    }
  }
}
