// The HPACK dynamic table (RFC 7541 §2.3.2, §4): newest entry at index 1 (62 overall), sized as
// name + value octets + 32 per entry, oldest entries evicted to fit. A ring buffer of two string
// arrays: no object per entry, no shifting on insert.

export const ENTRY_OVERHEAD = 32;

export class DynamicTable {
  #names: string[] = new Array<string>(16);
  #values: string[] = new Array<string>(16);
  /** Ring position of the newest entry. */
  #head = 0;
  #count = 0;
  #size = 0;
  #maxSize: number;
  /** Entries ever inserted: with `count`, gives absolute positions for the encoder's index. */
  #inserted = 0;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  get length(): number {
    return this.#count;
  }

  /** Current size in octets (§4.1). */
  get size(): number {
    return this.#size;
  }

  get maxSize(): number {
    return this.#maxSize;
  }

  get inserted(): number {
    return this.#inserted;
  }

  /** Entry `i`, 1 = newest. Caller checks 1 ≤ i ≤ length. */
  name(i: number): string {
    return this.#names[(this.#head - i + 1 + this.#names.length) % this.#names.length];
  }

  value(i: number): string {
    return this.#values[(this.#head - i + 1 + this.#names.length) % this.#names.length];
  }

  /** A new maximum size (§4.3): evicts until it fits. */
  setMaxSize(max: number): void {
    this.#maxSize = max;
    this.#evictTo(max);
  }

  /**
   * Adds an entry (§4.4). One larger than the maximum empties the table and is not added; its
   * name may be a string of an entry it evicts, which is fine: strings are values.
   */
  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.#inserted++;
    if (size > this.#maxSize) {
      this.#evictTo(0);
      return;
    }
    this.#evictTo(this.#maxSize - size);
    if (this.#count === this.#names.length) this.#grow();
    this.#head = (this.#head + 1) % this.#names.length;
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#count++;
    this.#size += size;
  }

  #evictTo(limit: number): void {
    const cap = this.#names.length;
    while (this.#size > limit && this.#count > 0) {
      const tail = (this.#head - this.#count + 1 + cap) % cap;
      this.#size -= this.#names[tail].length + this.#values[tail].length + ENTRY_OVERHEAD;
      this.#names[tail] = '';
      this.#values[tail] = '';
      this.#count--;
    }
  }

  #grow(): void {
    const cap = this.#names.length;
    const names = new Array<string>(cap * 2);
    const values = new Array<string>(cap * 2);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head - this.#count + 1 + i + cap) % cap;
      names[i] = this.#names[from];
      values[i] = this.#values[from];
    }
    this.#names = names;
    this.#values = values;
    this.#head = this.#count - 1;
  }
}
