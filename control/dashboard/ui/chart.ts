// A small hand-drawn SVG line chart over the window: one series, time on x, a labelled y axis
// with three ticks, gaps where a bucket had no data. The chart is an image with a text summary
// (aria-label) so a screen reader hears the latest value instead of a pile of paths.
import { h, s } from './dom.ts';

export interface ChartPoint {
  t: number;
  v: number | null;
}

export interface ChartOptions {
  title: string;
  format(v: number): string;
  /** Fixed y range (success rate: 0..1); otherwise 0..max. */
  yMax?: number;
}

const W = 360;
const H = 140;
const PAD = { l: 56, r: 8, t: 8, b: 22 };

export function lineChart(points: ChartPoint[], o: ChartOptions): HTMLElement {
  const values = points.map((p) => p.v).filter((v): v is number => v !== null);
  const last = [...points].reverse().find((p) => p.v !== null);
  const label = `${o.title}: ${last === undefined ? 'no data yet' : `latest ${o.format(last.v as number)}`}`;
  const fig = h('figure', { class: 'chart' }, h('figcaption', {}, o.title));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart-svg' });
  fig.append(svg);
  const t0 = points[0]?.t ?? 0;
  const t1 = points.at(-1)?.t ?? 1;
  const yMax = o.yMax ?? (Math.max(...values, 0) * 1.15 || 1);
  const x = (t: number): number => PAD.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - (v / yMax) * (H - PAD.t - PAD.b);
  for (const f of [0, 0.5, 1]) {
    const v = yMax * f;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: PAD.l - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, o.format(v)));
  }
  if (points.length > 1) {
    svg.append(s('text', { x: PAD.l, y: H - 6, class: 'tick' }, new Date(t0).toLocaleTimeString([], { hour12: false })));
    svg.append(s('text', { x: W - PAD.r, y: H - 6, 'text-anchor': 'end', class: 'tick' }, new Date(t1).toLocaleTimeString([], { hour12: false })));
  }
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  if (d !== '') svg.append(s('path', { d, class: 'series' }));
  // Dots too: a lone bucket between gaps has no line to draw.
  for (const p of points) if (p.v !== null) svg.append(s('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5, class: 'dot' }));
  if (values.length === 0) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'tick' }, 'no data yet'));
  return fig;
}
