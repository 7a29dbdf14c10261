// One workload: its pods and identities, inbound and outbound edges, HTTP routes, certificates'
// expiry (from the agents' summaries), the policies its agents enforce, and charts of what it serves.
import { getJson, href } from './api.ts';
import { h, replace } from './dom.ts';
import { bytes, clock, shortIdentity, workloadLabel, type Golden } from './format.ts';
import { goldenColumns } from './golden-cells.ts';
import { charts, type SeriesPoint } from './overview.ts';
import { SortableTable } from './table.ts';
import type { View } from './view.ts';
import type { EdgeRow } from '../wire.ts';

interface Detail {
  key: string;
  pods: Array<{ name: string; node: string; ip: string; identity: string; meshed: boolean; ready: boolean }>;
  identities: string[];
  services: Array<{ key: string; clusterIP: string | null; ports: string[] }>;
  certs: Array<{ node: string; identity: string; state: string; notAfter: string | null; rotateAt: string | null }>;
  policies: Array<{ pod: string; node: string; mtls: string; defaultInbound: string; deny: string[]; allow: string[]; audit: string[] }>;
  inbound: EdgeRow[];
  outbound: EdgeRow[];
  routes: Array<{ route: string; golden: Golden }>;
}

function edgeTable(caption: string, peer: 'source' | 'destination'): SortableTable<EdgeRow> {
  return new SortableTable<EdgeRow>({
    caption,
    empty: 'No traffic in the window.',
    sort: { key: 'rate', descending: true },
    rowAttrs: (r) => ({ 'data-peer': r[peer] }),
    columns: [
      { key: 'peer', label: peer === 'source' ? 'From' : 'To', value: (r) => r[peer], render: (r) => (r[peer] === '' ? workloadLabel('') : h('a', { href: href(`/workload/${r[peer]}`) }, r[peer])) },
      { key: 'identity', label: 'Identity', value: (r) => (peer === 'source' ? r.sourceIdentity : r.destinationIdentity), render: (r) => shortIdentity(peer === 'source' ? r.sourceIdentity : r.destinationIdentity) },
      { key: 'service', label: 'Service', value: (r) => r.service },
      { key: 'tls', label: 'mTLS', value: (r) => r.tls, render: (r) => (r.tls === 'mutual' ? 'yes' : 'no') },
      ...goldenColumns<EdgeRow>((r) => r.golden),
      { key: 'bytes', label: 'Bytes', numeric: true, value: (r) => r.golden.bytesPerSecond, render: (r) => bytes(r.golden.bytesPerSecond) },
    ],
  });
}

function until(iso: string | null): string {
  if (iso === null) return '–';
  const s = (Date.parse(iso) - Date.now()) / 1000;
  if (s < 0) return 'expired';
  return s > 7200 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`;
}

export class WorkloadView implements View {
  readonly title: string;
  readonly #key: string;
  readonly #in = edgeTable('Inbound edges: who calls this workload', 'source');
  readonly #out = edgeTable('Outbound edges: what this workload calls', 'destination');
  readonly #routes = new SortableTable<{ route: string; golden: Golden }>({
    caption: 'HTTP routes served', empty: 'No HTTP routes seen (TCP only, or no traffic).', sort: { key: 'route', descending: false },
    columns: [{ key: 'route', label: 'Route', value: (r) => r.route }, ...goldenColumns<{ route: string; golden: Golden }>((r) => r.golden)],
  });
  readonly #info = h('div', { class: 'info' });
  readonly #charts = h('div');

  constructor(key: string) {
    this.#key = key;
    this.title = `Workload ${key}`;
  }

  mount(el: HTMLElement): void {
    replace(el,
      h('h1', {}, 'Workload ', h('code', {}, this.#key)),
      this.#info,
      h('section', { 'aria-label': 'Inbound edges' }, this.#in.el),
      h('section', { 'aria-label': 'Outbound edges' }, this.#out.el),
      h('section', { 'aria-label': 'Routes' }, this.#routes.el),
      h('section', { 'aria-labelledby': 'wch-h' }, h('h2', { id: 'wch-h' }, 'Served over the last 15 minutes'), this.#charts),
    );
  }

  async refresh(windowSeconds: number): Promise<void> {
    const [d, s] = await Promise.all([
      getJson<Detail>('/api/workload', { key: this.#key, window: windowSeconds }),
      getJson<{ points: SeriesPoint[] }>('/api/series', { window: 900, workload: this.#key, direction: 'inbound' }),
    ]);
    this.#in.update(d.inbound);
    this.#out.update(d.outbound);
    this.#routes.update(d.routes);
    replace(this.#charts, charts(s.points));
    replace(this.#info,
      h('section', { 'aria-labelledby': 'pods-h' }, h('h2', { id: 'pods-h' }, 'Pods and identities'),
        h('ul', {}, ...d.pods.map((p) => h('li', {}, h('code', {}, p.name), ` on ${p.node}, ${p.ip}, ${p.meshed ? 'meshed' : 'not meshed'}${p.ready ? '' : ', not ready'} — `, h('code', {}, p.identity)))),
        d.services.length === 0 ? null : h('p', {}, 'Services: ', d.services.map((x) => `${x.key} (${x.clusterIP ?? 'headless'} ${x.ports.join(', ')})`).join('; '))),
      h('section', { 'aria-labelledby': 'certs-h' }, h('h2', { id: 'certs-h' }, 'Certificates'),
        d.certs.length === 0 ? h('p', {}, 'No certificate reported yet (agents send theirs with each summary).')
          : h('table', { class: 'data' }, h('caption', {}, 'Workload certificates held by agents'),
            h('thead', {}, h('tr', {}, ...['Identity', 'Node', 'State', 'Expires', 'In', 'Rotates'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, ...d.certs.map((c) => h('tr', { 'data-cert': c.identity }, h('td', {}, shortIdentity(c.identity)), h('td', {}, c.node), h('td', { class: c.state === 'valid' ? 'health ok' : 'health bad' }, c.state),
              h('td', {}, c.notAfter === null ? '–' : `${new Date(c.notAfter).toLocaleDateString()} ${clock(c.notAfter)}`), h('td', {}, until(c.notAfter)), h('td', {}, c.rotateAt === null ? '–' : clock(c.rotateAt))))))),
      h('section', { 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h' }, 'Policies enforced'),
        d.policies.length === 0 ? h('p', {}, 'No report from the agents of these pods yet.')
          : h('ul', {}, ...d.policies.map((p) => h('li', {}, h('code', {}, p.pod), ` (${p.node}): mTLS ${p.mtls}, default ${p.defaultInbound}; `,
            `deny [${p.deny.join(', ')}] allow [${p.allow.join(', ')}] audit [${p.audit.join(', ')}]`)))),
    );
  }
}
