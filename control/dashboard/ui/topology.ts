// The topology: workloads as nodes, observed edges as arrows, drawn from the window's traffic.
// Layered layout: clients on the left, what they call to the right (longest path from a node
// nobody calls; cycles are cut by a bound on the passes). Edge colour is the edge's health, its
// label the rate. Every node is a link (tab-focusable), and a table lists the same edges.
import { getJson, href } from './api.ts';
import { h, replace, s } from './dom.ts';
import { health, pct, rate, unitOf, workloadLabel, type Golden } from './format.ts';
import { goldenColumns } from './golden-cells.ts';
import { SortableTable } from './table.ts';
import type { View } from './view.ts';

interface TopoNode { id: string; namespace: string; name: string; meshed: boolean; inbound: Golden }
interface TopoEdge { source: string; destination: string; golden: Golden; tls: string[] }
interface Topology { nodes: TopoNode[]; edges: TopoEdge[] }

const NODE_W = 150;
const NODE_H = 40;
const COL_GAP = 110;
const ROW_GAP = 24;

export function layers(nodes: readonly string[], edges: ReadonlyArray<{ source: string; destination: string }>): Map<string, number> {
  const layer = new Map(nodes.map((n) => [n, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.source === e.destination) continue;
      const want = (layer.get(e.source) ?? 0) + 1;
      if ((layer.get(e.destination) ?? 0) < want && want < nodes.length) {
        layer.set(e.destination, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return layer;
}

export class TopologyView implements View {
  readonly title = 'Topology';
  readonly #graph = h('div', { class: 'graph' });
  readonly #table = new SortableTable<TopoEdge>({
    caption: 'Edges in the window', empty: 'No traffic in the window.', sort: { key: 'rate', descending: true },
    rowAttrs: (e) => ({ 'data-edge': `${e.source}->${e.destination}` }),
    columns: [
      { key: 'source', label: 'From', value: (e) => e.source, render: (e) => workloadLabel(e.source) },
      { key: 'destination', label: 'To', value: (e) => e.destination, render: (e) => workloadLabel(e.destination) },
      { key: 'tls', label: 'mTLS', value: (e) => e.tls.join(','), render: (e) => (e.tls.includes('mutual') ? 'yes' : 'no') },
      ...goldenColumns<TopoEdge>((e) => e.golden),
    ],
  });

  mount(el: HTMLElement): void {
    replace(el, h('h1', {}, 'Topology'), h('p', {}, 'Workloads and who talks to whom in the window. Arrow colour: success rate; label: rate.'), this.#graph, this.#table.el);
  }

  async refresh(windowSeconds: number): Promise<void> {
    const t = await getJson<Topology>('/api/topology', { window: windowSeconds });
    this.#table.update(t.edges);
    replace(this.#graph, this.#draw(t));
  }

  #draw(t: Topology): SVGElement {
    const ids = t.nodes.map((n) => n.id);
    const layer = layers(ids, t.edges);
    const cols = new Map<number, TopoNode[]>();
    for (const n of [...t.nodes].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const l = layer.get(n.id) ?? 0;
      cols.set(l, [...(cols.get(l) ?? []), n]);
    }
    const pos = new Map<string, { x: number; y: number }>();
    const maxRows = Math.max(1, ...[...cols.values()].map((c) => c.length));
    for (const [l, col] of cols) {
      const offset = ((maxRows - col.length) * (NODE_H + ROW_GAP)) / 2;
      col.forEach((n, i) => pos.set(n.id, { x: 10 + l * (NODE_W + COL_GAP), y: 10 + offset + i * (NODE_H + ROW_GAP) }));
    }
    const width = 20 + Math.max(1, cols.size) * (NODE_W + COL_GAP) - COL_GAP;
    const height = 20 + maxRows * (NODE_H + ROW_GAP) - ROW_GAP;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': `Topology graph: ${t.nodes.length} workloads, ${t.edges.length} edges`, class: 'topology' });
    svg.append(s('defs', {}, ...['ok', 'warn', 'bad', 'idle'].map((c) => s('marker', { id: `arrow-${c}`, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0L10,5L0,10z', class: `arrowhead ${c}` })))));
    for (const e of t.edges) {
      const a = pos.get(e.source);
      const b = pos.get(e.destination);
      if (a === undefined || b === undefined) continue;
      const hl = health(e.golden.successRate);
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2;
      // Backward or same-column edges curve around instead of crossing the node.
      const d = x2 > x1 ? `M${x1},${y1} C${x1 + 40},${y1} ${x2 - 40},${y2} ${x2},${y2}` : `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${a.y + NODE_H + 60} ${b.x + NODE_W / 2},${b.y + NODE_H + 60} ${b.x + NODE_W / 2},${b.y + NODE_H}`;
      const label = `${workloadLabel(e.source)} to ${workloadLabel(e.destination)}: ${rate(e.golden.rate, ` ${unitOf(e.golden)}`)}, success ${pct(e.golden.successRate)}`;
      svg.append(s('g', { class: 'edge', 'data-edge': `${e.source}->${e.destination}` },
        s('title', {}, label),
        s('path', { d, class: `edge-line ${hl}`, 'marker-end': `url(#arrow-${hl})` }),
        s('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, 'text-anchor': 'middle', class: 'edge-label' }, `${rate(e.golden.rate)} ${pct(e.golden.successRate)}`)));
    }
    for (const n of t.nodes) {
      const p = pos.get(n.id);
      if (p === undefined) continue;
      const body = [
        s('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6, class: `node ${n.meshed ? 'meshed' : 'unmeshed'} ${health(n.inbound.successRate)}` }),
        s('text', { x: p.x + NODE_W / 2, y: p.y + 17, 'text-anchor': 'middle', class: 'node-name' }, n.name.length > 20 ? `${n.name.slice(0, 19)}…` : n.name),
        s('text', { x: p.x + NODE_W / 2, y: p.y + 32, 'text-anchor': 'middle', class: 'node-ns' }, n.namespace || (n.meshed ? '' : 'not meshed')),
      ];
      const label = `${workloadLabel(n.id)}${n.meshed ? '' : ' (not meshed)'}: serves ${rate(n.inbound.rate)}, success ${pct(n.inbound.successRate)}`;
      svg.append(n.id === ''
        ? s('g', { class: 'topo-node', 'data-node': n.id, 'aria-label': label, role: 'img' }, ...body)
        : s('a', { href: href(`/workload/${n.id}`), class: 'topo-node', 'data-node': n.id, 'aria-label': label }, ...body));
    }
    return svg;
  }
}
