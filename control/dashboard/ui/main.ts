// The dashboard's entry: a hash router over the views, the navigation, the window selector and a
// refresh every few seconds for the view on screen. Focus moves to the page heading on a route
// change so keyboard and screen-reader users land on the new content.
import { h, replace } from './dom.ts';
import { OverviewView } from './overview.ts';
import { PoliciesView } from './policies.ts';
import { TapView } from './tap.ts';
import { TopologyView } from './topology.ts';
import type { View } from './view.ts';
import { WorkloadView } from './workload.ts';

const REFRESH_MS = 5000;
const SECTIONS: Array<{ path: string; label: string }> = [
  { path: '/overview', label: 'Overview' },
  { path: '/topology', label: 'Topology' },
  { path: '/tap', label: 'Live tap' },
  { path: '/policies', label: 'Policies' },
];

const app = document.getElementById('app') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const windowSelect = document.getElementById('window') as HTMLSelectElement;
const error = h('p', { class: 'error', role: 'alert', hidden: true });
let current: View | null = null;
let timer: number | undefined;

function route(): { view: View; section: string } {
  const path = location.hash.replace(/^#/, '') || '/overview';
  if (path.startsWith('/workload/')) return { view: new WorkloadView(decodeURIComponent(path.slice('/workload/'.length))), section: '/overview' };
  switch (path) {
    case '/topology': return { view: new TopologyView(), section: path };
    case '/tap': return { view: new TapView(), section: path };
    case '/policies': return { view: new PoliciesView(), section: path };
    default: return { view: new OverviewView(), section: '/overview' };
  }
}

async function refresh(): Promise<void> {
  const view = current;
  if (view === null) return;
  try {
    await view.refresh(Number(windowSelect.value));
    if (view === current) error.hidden = true;
  } catch (err) {
    if (view !== current) return;
    error.hidden = false;
    replace(error, `Could not load: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function show(): void {
  current?.unmount?.();
  const { view, section } = route();
  current = view;
  replace(nav, ...SECTIONS.map((s) => h('a', { href: `#${s.path}`, 'aria-current': s.path === section ? 'page' : null }, s.label)));
  const body = h('div');
  replace(app, error, body);
  view.mount(body);
  document.title = `${view.title} · Weft`;
  const heading = body.querySelector('h1');
  if (heading !== null) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
  void refresh();
}

window.addEventListener('hashchange', show);
windowSelect.addEventListener('change', () => void refresh());
show();
timer = window.setInterval(() => void refresh(), REFRESH_MS);
window.addEventListener('pagehide', () => window.clearInterval(timer));
