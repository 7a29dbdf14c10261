// The policies view: every AuthorizationPolicy control knows, which workloads enforce it (from the
// agents' reports), the edges it denied (the enforcing agents' counters name the policy) and the
// edges that passed into workloads it allows, plus the recent denials with their time.
import { getJson } from './api.ts';
import { h, replace } from './dom.ts';
import { clock, pct, shortIdentity, workloadLabel, type Golden } from './format.ts';
import type { View } from './view.ts';

interface CounterRow { kind: string; policy: string; source: string; destination: string; total: number; recent: number; lastAt: number | null }
interface AllowedEdge { source: string; sourceIdentity: string; destination: string; golden: Golden }
interface PolicyRow { key: string; action: string; target: string; enforcedOn: string[]; denied: CounterRow[]; audited: CounterRow[]; allowed: AllowedEdge[] }
interface Recent { at: number; node: string; kind: string; policy: string; source: string; destination: string; count: number }
interface Policies { windowSeconds: number; policies: PolicyRow[]; otherDenials: CounterRow[]; recent: Recent[] }

function counterTable(caption: string, rows: CounterRow[]): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted' }, `${caption}: none.`);
  return h('table', { class: 'data' }, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...['Kind', 'Source identity', 'Destination', 'Total', 'In window', 'Last'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', { 'data-denied': `${r.source}->${r.destination}`, 'data-kind': r.kind, class: r.kind === 'audited' ? null : 'failed' },
      h('td', {}, r.kind), h('td', {}, shortIdentity(r.source)), h('td', {}, r.destination), h('td', { class: 'num' }, r.total), h('td', { class: 'num' }, r.recent), h('td', {}, r.lastAt === null ? '–' : clock(r.lastAt))))));
}

export class PoliciesView implements View {
  readonly title = 'Policies';
  readonly #list = h('div');
  readonly #recent = h('div');

  mount(el: HTMLElement): void {
    replace(el, h('h1', {}, 'Authorization policies'),
      h('p', {}, 'Denials are counted by the destination\'s agent under the policy that decided. An edge into a workload with ALLOW policies passed one of them; it is listed under each.'),
      this.#list,
      h('section', { 'aria-labelledby': 'rd-h' }, h('h2', { id: 'rd-h' }, 'Recent denials'), this.#recent));
  }

  async refresh(): Promise<void> {
    const p = await getJson<Policies>('/api/policies', { window: 900 });
    replace(this.#list,
      p.policies.length === 0 ? h('p', {}, 'No AuthorizationPolicy in the cluster: every workload uses its MeshPolicy default.') : null,
      ...p.policies.map((x) => h('section', { class: `policy ${x.action.toLowerCase()}`, 'data-policy': x.key, 'aria-label': `Policy ${x.key}` },
        h('h2', {}, h('span', { class: `badge ${x.action.toLowerCase()}` }, x.action), ' ', x.key),
        h('p', {}, `Applies to ${x.target}. Enforced on: ${x.enforcedOn.length === 0 ? 'no reporting workload yet' : x.enforcedOn.join(', ')}.`),
        counterTable(`Edges ${x.key} denied`, x.denied),
        x.audited.length > 0 ? counterTable(`Edges ${x.key} audited`, x.audited) : null,
        x.action === 'ALLOW' ? (x.allowed.length === 0 ? h('p', { class: 'muted' }, 'Allowed edges in the window: none.')
          : h('ul', { 'aria-label': `Edges ${x.key} allowed` }, ...x.allowed.map((e) => h('li', { 'data-allowed': `${e.source}->${e.destination}` }, `${workloadLabel(e.source)} (${shortIdentity(e.sourceIdentity)}) → ${e.destination}, success ${pct(e.golden.successRate)}`)))) : null)),
      p.otherDenials.length > 0 ? h('section', { 'aria-label': 'Other denials' }, counterTable('Denials by defaults or removed policies', p.otherDenials)) : null,
    );
    replace(this.#recent, p.recent.length === 0 ? h('p', {}, 'No denial in the last 15 minutes.')
      : h('table', { class: 'data' }, h('caption', {}, 'Policy events, newest first'),
        h('thead', {}, h('tr', {}, ...['Time', 'Node', 'Kind', 'Policy', 'Source identity', 'Destination', 'Count'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...p.recent.map((r) => h('tr', { 'data-recent': r.policy }, h('td', {}, clock(r.at)), h('td', {}, r.node), h('td', {}, r.kind), h('td', {}, r.policy), h('td', {}, shortIdentity(r.source)), h('td', {}, r.destination), h('td', { class: 'num' }, r.count))))));
  }
}
