// The overview: namespaces and meshed workloads with what each serves (success, rate, latency)
// and sends, plus mesh-wide charts over the window. Rows link to the workload page.
import { getJson, href } from './api.ts';
import { lineChart } from './chart.ts';
import { h, replace } from './dom.ts';
import { latency, pct, rate, unitOf, type Golden } from './format.ts';
import { goldenColumns } from './golden-cells.ts';
import { SortableTable } from './table.ts';
import type { View } from './view.ts';
import type { SeriesPoint, WorkloadRow } from '../wire.ts';

export type { SeriesPoint };

interface Overview {
  windowSeconds: number;
  namespaces: Array<{ name: string; workloads: number; meshed: number }>;
  workloads: WorkloadRow[];
  agents: Array<{ node: string }>;
  summaries: Array<{ node: string; receivedAt: string }>;
}

export function charts(points: SeriesPoint[]): HTMLElement {
  return h('div', { class: 'charts' },
    lineChart(points.map((p) => ({ t: p.t, v: p.rate })), { title: 'Request rate', format: (v) => rate(v) }),
    lineChart(points.map((p) => ({ t: p.t, v: p.successRate })), { title: 'Success rate', format: (v) => pct(v), yMax: 1 }),
    lineChart(points.map((p) => ({ t: p.t, v: p.p95 })), { title: 'Latency P95', format: (v) => latency(v) }),
  );
}

export class OverviewView implements View {
  readonly title = 'Overview';
  readonly #table = new SortableTable<WorkloadRow>({
    caption: 'Meshed workloads: what each serves (inbound) and sends (outbound) over the window',
    empty: 'No meshed workloads yet.',
    sort: { key: 'key', descending: false },
    rowAttrs: (r) => ({ 'data-workload': r.key }),
    columns: [
      { key: 'key', label: 'Workload', value: (r) => r.key, render: (r) => h('a', { href: href(`/workload/${r.key}`) }, r.key) },
      { key: 'meshed', label: 'Meshed', value: (r) => (r.meshed ? 1 : 0), render: (r) => (r.meshed ? `${r.ready}/${r.pods} pods` : 'no') },
      ...goldenColumns<WorkloadRow>((r) => r.inbound),
      { key: 'out', label: 'Outbound', numeric: true, value: (r) => r.outbound.rate, render: (r) => rate(r.outbound.rate, ` ${unitOf(r.outbound)}`) },
      { key: 'outsuccess', label: 'Out success', numeric: true, value: (r) => r.outbound.successRate, render: (r) => pct(r.outbound.successRate) },
    ],
  });
  readonly #namespaces = h('ul', { class: 'namespaces', 'aria-label': 'Namespaces' });
  readonly #charts = h('div');
  readonly #status = h('p', { class: 'status', role: 'status' });

  mount(el: HTMLElement): void {
    replace(el,
      h('h1', {}, 'Mesh overview'),
      this.#status,
      h('section', { 'aria-labelledby': 'ns-h' }, h('h2', { id: 'ns-h' }, 'Namespaces'), this.#namespaces),
      h('section', { 'aria-labelledby': 'wl-h' }, h('h2', { id: 'wl-h' }, 'Workloads'), this.#table.el),
      h('section', { 'aria-labelledby': 'ch-h' }, h('h2', { id: 'ch-h' }, 'Whole mesh over the last 15 minutes'), this.#charts),
    );
  }

  async refresh(windowSeconds: number): Promise<void> {
    const [o, s] = await Promise.all([
      getJson<Overview>('/api/overview', { window: windowSeconds }),
      getJson<{ points: SeriesPoint[] }>('/api/series', { window: 900 }),
    ]);
    this.#table.update(o.workloads);
    replace(this.#namespaces, ...o.namespaces.map((n) => h('li', { 'data-namespace': n.name }, h('strong', {}, n.name), ` ${n.meshed} meshed / ${n.workloads} workloads`)));
    replace(this.#status, `${o.agents.length} agent${o.agents.length === 1 ? '' : 's'} connected · window ${Math.round(o.windowSeconds)} s · a request is an HTTP request, or a TCP connection where no HTTP was seen`);
    replace(this.#charts, charts(s.points));
  }
}
