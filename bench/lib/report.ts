// Helpers for the bench README: Markdown tables, ratios, and small self-contained SVG charts
// (no dependencies, so results render on GitHub and diff as text).

export type Cell = string | number | null | undefined;

export interface Column {
  title: string;
  /** Numbers are right-aligned by default, text left. */
  align?: 'left' | 'right' | 'center';
  /** Formats a numeric cell; default: up to 2 decimals. */
  format?: (n: number) => string;
}

export function formatNumber(n: number, decimals = 2): string {
  if (!Number.isFinite(n)) return String(n);
  return Number(n.toFixed(decimals)).toLocaleString('en-US', { maximumFractionDigits: decimals });
}

/** a/b as "1.23×"; "n/a" when b is 0 or either is missing. */
export function ratio(a: number | undefined, b: number | undefined, decimals = 2): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(decimals)}×`;
}

/** (a-b)/b as "+12.3%"; "n/a" when b is 0. */
export function percentChange(a: number, b: number, decimals = 1): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  const p = ((a - b) / b) * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(decimals)}%`;
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A GitHub-flavoured Markdown table; columns given as titles or Column specs. */
export function markdownTable(columns: (string | Column)[], rows: Cell[][]): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { title: c } : c));
  const numeric = cols.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number'));
  const text = rows.map((r) => cols.map((c, i) => {
    const v = r[i];
    if (v === null || v === undefined) return '';
    return escapeCell(typeof v === 'number' ? (c.format ?? ((n: number) => formatNumber(n)))(v) : v);
  }));
  const header = cols.map((c) => escapeCell(c.title));
  const widths = header.map((h, i) => Math.max(3, h.length, ...text.map((r) => r[i].length)));
  const aligns = cols.map((c, i) => c.align ?? (numeric[i] ? 'right' : 'left'));
  const pad = (s: string, i: number): string => (aligns[i] === 'right' ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const rule = widths.map((w, i) => {
    const a = aligns[i];
    if (a === 'right') return '-'.repeat(w - 1) + ':';
    if (a === 'center') return ':' + '-'.repeat(w - 2) + ':';
    return '-'.repeat(w);
  });
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header.map(pad)), line(rule), ...text.map((r) => line(r.map(pad)))].join('\n') + '\n';
}

export interface Series {
  name: string;
  values: number[];
}

export interface ChartOptions {
  title: string;
  /** One label per x position (bar groups, or line points). */
  labels: string[];
  series: Series[];
  yLabel?: string;
  width?: number;
  height?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis top (1, 2, 2.5 or 5 × 10^k) at or above max, so gridlines land on round numbers. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= max) return m * mag;
  return 10 * mag;
}

interface Frame {
  w: number; h: number; left: number; right: number; top: number; bottom: number; yMax: number; parts: string[];
}

/** Legend entries are laid out in columns this wide, wrapping to more rows when they do not fit. */
const LEGEND_COLUMN = 160;

function frame(o: ChartOptions): Frame {
  const w = o.width ?? 640;
  const perRow = Math.max(1, Math.floor((w - 56) / LEGEND_COLUMN));
  const legendRows = Math.max(1, Math.ceil(o.series.length / perRow));
  const h = (o.height ?? 320) + 16 * (legendRows - 1);
  const f: Frame = { w, h, left: 56, right: w - 16, top: 40, bottom: h - 32 - 16 * legendRows, yMax: 1, parts: [] };
  const all = o.series.flatMap((s) => s.values.filter(Number.isFinite));
  f.yMax = niceMax(Math.max(0, ...all));
  f.parts.push(`<rect width="${w}" height="${h}" fill="#fff"/>`);
  f.parts.push(`<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (f.yMax * k) / 4;
    const y = f.bottom - ((f.bottom - f.top) * k) / 4;
    f.parts.push(`<line x1="${f.left}" x2="${f.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    f.parts.push(`<text x="${f.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${escapeXml(formatNumber(v))}</text>`);
  }
  if (o.yLabel !== undefined) {
    f.parts.push(`<text transform="translate(14 ${(f.top + f.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(o.yLabel)}</text>`);
  }
  o.series.forEach((s, i) => {
    const x = f.left + (i % perRow) * LEGEND_COLUMN;
    const y = h - 18 - 16 * (legendRows - 1 - Math.floor(i / perRow));
    f.parts.push(`<rect x="${x}" y="${y}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    f.parts.push(`<text x="${x + 14}" y="${y + 9}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return f;
}

function finish(f: Frame): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${f.w}" height="${f.h}" viewBox="0 0 ${f.w} ${f.h}" font-family="sans-serif">\n` +
    f.parts.map((p) => `  ${p}`).join('\n') + '\n</svg>\n';
}

const yOf = (f: Frame, v: number): number => f.bottom - ((f.bottom - f.top) * Math.max(0, v)) / f.yMax;
const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Grouped bars: one group per label, one bar per series. */
export function svgBarChart(o: ChartOptions): string {
  const f = frame(o);
  const groupW = (f.right - f.left) / Math.max(1, o.labels.length);
  const barW = (groupW * 0.8) / Math.max(1, o.series.length);
  o.labels.forEach((label, g) => {
    const gx = f.left + g * groupW + groupW * 0.1;
    o.series.forEach((s, i) => {
      const v = s.values[g];
      if (v === undefined || !Number.isFinite(v)) return;
      const y = yOf(f, v);
      f.parts.push(`<rect x="${round1(gx + i * barW)}" y="${round1(y)}" width="${round1(barW * 0.9)}" height="${round1(f.bottom - y)}" ` +
        `fill="${PALETTE[i % PALETTE.length]}"><title>${escapeXml(`${s.name} ${label}: ${formatNumber(v)}`)}</title></rect>`);
    });
    f.parts.push(`<text x="${round1(gx + groupW * 0.4)}" y="${f.bottom + 16}" text-anchor="middle" font-size="11">${escapeXml(label)}</text>`);
  });
  return finish(f);
}

/** Lines over evenly spaced labels (e.g. offered rate), with a dot per point. */
export function svgLineChart(o: ChartOptions): string {
  const f = frame(o);
  const n = o.labels.length;
  const xOf = (k: number): number => (n <= 1 ? (f.left + f.right) / 2 : f.left + ((f.right - f.left) * k) / (n - 1));
  o.labels.forEach((label, k) => {
    f.parts.push(`<text x="${round1(xOf(k))}" y="${f.bottom + 16}" text-anchor="middle" font-size="11">${escapeXml(label)}</text>`);
  });
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.values.map((v, k) => [xOf(k), v] as const).filter(([, v]) => Number.isFinite(v));
    if (pts.length > 1) {
      f.parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, v]) => `${round1(x)},${round1(yOf(f, v))}`).join(' ')}"/>`);
    }
    for (const [x, v] of pts) f.parts.push(`<circle cx="${round1(x)}" cy="${round1(yOf(f, v))}" r="3" fill="${color}"/>`);
  });
  return finish(f);
}
