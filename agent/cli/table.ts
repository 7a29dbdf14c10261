// Plain aligned tables for humans; `-o json` bypasses them entirely.

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function dash(v: string | null | undefined): string {
  return v === null || v === undefined || v === '' ? '-' : v;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)}${units[i]}`;
}

export function rate(n: number): string {
  return `${n.toFixed(2)}/s`;
}

export function pct(r: number | null): string {
  return r === null ? '-' : `${(r * 100).toFixed(2)}%`;
}

export function seconds(s: number | null): string {
  if (s === null) return '-';
  return s < 1 ? `${(s * 1000).toFixed(0)}ms` : `${s.toFixed(2)}s`;
}
