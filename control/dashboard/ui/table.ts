// A sortable table: header buttons (keyboard reachable, aria-sort on the header cell), and
// update() replaces only the body, so a refresh keeps the sort order and the focused button.
import { h, type Attrs, type Child } from './dom.ts';

export interface Column<T> {
  key: string;
  label: string;
  /** What the column sorts by; null sorts last. */
  value(row: T): number | string | null;
  render?(row: T): Child;
  numeric?: boolean;
  /** Cell attributes (e.g. a health class). */
  cell?(row: T): Attrs;
}

export interface TableOptions<T> {
  caption: string;
  columns: Column<T>[];
  rowAttrs?(row: T): Attrs;
  sort?: { key: string; descending: boolean };
  empty: string;
}

export class SortableTable<T> {
  readonly el: HTMLTableElement;
  readonly #o: TableOptions<T>;
  readonly #body: HTMLTableSectionElement;
  readonly #headers = new Map<string, HTMLTableCellElement>();
  #rows: T[] = [];
  #sort: { key: string; descending: boolean } | null;

  constructor(o: TableOptions<T>) {
    this.#o = o;
    this.#sort = o.sort ?? null;
    const head = h('tr');
    for (const c of o.columns) {
      const th = h('th', { scope: 'col', class: c.numeric === true ? 'num' : null },
        h('button', { type: 'button', class: 'sort', 'data-sort': c.key, onclick: () => this.#sortBy(c.key) }, c.label));
      this.#headers.set(c.key, th);
      head.append(th);
    }
    this.#body = h('tbody');
    this.el = h('table', { class: 'data' }, h('caption', {}, o.caption), h('thead', {}, head), this.#body);
    this.#markSort();
  }

  update(rows: T[]): void {
    this.#rows = rows;
    this.#render();
  }

  #sortBy(key: string): void {
    this.#sort = this.#sort?.key === key ? { key, descending: !this.#sort.descending } : { key, descending: this.#o.columns.find((c) => c.key === key)?.numeric === true };
    this.#markSort();
    this.#render();
  }

  #markSort(): void {
    for (const [key, th] of this.#headers) {
      th.setAttribute('aria-sort', this.#sort?.key === key ? (this.#sort.descending ? 'descending' : 'ascending') : 'none');
    }
  }

  #render(): void {
    const rows = [...this.#rows];
    const col = this.#o.columns.find((c) => c.key === this.#sort?.key);
    if (col !== undefined && this.#sort !== null) {
      const dir = this.#sort.descending ? -1 : 1;
      rows.sort((a, b) => {
        const x = col.value(a);
        const y = col.value(b);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    const trs = rows.map((r) => h('tr', this.#o.rowAttrs?.(r) ?? {},
      ...this.#o.columns.map((c) => h('td', { class: c.numeric === true ? 'num' : null, 'data-col': c.key, ...(c.cell?.(r) ?? {}) }, c.render !== undefined ? c.render(r) : String(c.value(r) ?? '–')))));
    if (trs.length === 0) trs.push(h('tr', {}, h('td', { colspan: this.#o.columns.length, class: 'empty' }, this.#o.empty)));
    this.#body.replaceChildren(...trs);
  }
}
