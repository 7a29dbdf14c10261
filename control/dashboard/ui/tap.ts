// The live tap: a filter form and a table of events as they happen, streamed from control over a
// WebSocket (control fans the tap out to every agent over the config stream). The newest event
// is on top; the table keeps the last MAX_ROWS; drops upstream are announced, not hidden.
import { tapUrl } from './api.ts';
import { h, replace } from './dom.ts';
import { clock, shortIdentity, workloadLabel } from './format.ts';
import type { View } from './view.ts';

const MAX_ROWS = 500;
const FIELDS: Array<{ name: string; label: string; hint: string }> = [
  { name: 'namespace', label: 'Namespace', hint: 'either end' },
  { name: 'workload', label: 'Workload', hint: 'either end' },
  { name: 'service', label: 'Service', hint: 'ns/name or name' },
  { name: 'method', label: 'Method', hint: 'HTTP only' },
  { name: 'path_prefix', label: 'Path prefix', hint: 'HTTP only' },
  { name: 'status_class', label: 'Status class', hint: '2xx…5xx' },
];

interface TapPeer { workload: string; namespace: string; identity: string; address: string }
interface TapEvent {
  type: string;
  at: string;
  node?: string;
  direction: string;
  source: TapPeer;
  destination: TapPeer & { service: string };
  tls: string;
  outcome: string;
  error?: string;
  durationMs: number;
  method?: string;
  path?: string;
  status?: number;
  bytesSent?: number;
  bytesReceived?: number;
}

function peer(p: TapPeer): string {
  return p.workload === '' ? `${workloadLabel('')} ${p.address}` : `${p.namespace}/${p.workload}`;
}

export class TapView implements View {
  readonly title = 'Live tap';
  #ws: WebSocket | null = null;
  #count = 0;
  #dropped = 0;
  readonly #inputs = new Map<string, HTMLInputElement>();
  readonly #body = h('tbody');
  readonly #status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', id: 'tap-status' }, 'Not tapping.');
  readonly #start = h('button', { type: 'submit', id: 'tap-start' }, 'Start');
  readonly #stop = h('button', { type: 'button', id: 'tap-stop', disabled: true, onclick: () => this.#close('Stopped.') }, 'Stop');

  mount(el: HTMLElement): void {
    const form = h('form', { class: 'tap-form', 'aria-label': 'Tap filters', onsubmit: (e: Event) => { e.preventDefault(); this.#open(); } });
    for (const f of FIELDS) {
      const input = h('input', { name: f.name, id: `tap-${f.name}`, type: 'text', placeholder: f.hint, autocomplete: 'off', 'aria-label': `${f.label} filter (${f.hint})` });
      this.#inputs.set(f.name, input);
      form.append(h('label', { for: `tap-${f.name}` }, f.label, input));
    }
    form.append(h('div', { class: 'buttons' }, this.#start, this.#stop, h('button', { type: 'button', onclick: () => this.#clear() }, 'Clear')));
    replace(el,
      h('h1', {}, 'Live tap'),
      h('p', {}, 'Connections and requests as the agents see them. Empty filters match everything; namespace and workload match either end.'),
      form,
      this.#status,
      h('table', { class: 'data tap' }, h('caption', {}, 'Tap events, newest first'),
        h('thead', {}, h('tr', {}, ...['Time', 'Node', 'Kind', 'From', 'To', 'Service', 'mTLS', 'Detail', 'Outcome', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
        this.#body),
    );
  }

  async refresh(): Promise<void> {
    // Streams on its own: nothing to poll.
  }

  unmount(): void {
    this.#close('');
  }

  #filter(): Record<string, string> {
    const f: Record<string, string> = {};
    for (const [k, input] of this.#inputs) f[k] = input.value.trim();
    return f;
  }

  #open(): void {
    this.#close('');
    const ws = new WebSocket(tapUrl(this.#filter()));
    this.#ws = ws;
    this.#start.textContent = 'Restart';
    this.#stop.disabled = false;
    replace(this.#status, 'Connecting…');
    ws.onmessage = (m) => {
      const e = JSON.parse(String(m.data)) as TapEvent & { agents?: string[]; events?: number };
      if (e.type === 'tap-started') {
        replace(this.#status, `Tapping ${e.agents?.length ?? 0} agent(s)${e.agents?.length ? ` (${e.agents.join(', ')})` : ''}. Waiting for traffic…`);
        this.#status.dataset.state = 'tapping';
        return;
      }
      if (e.type === 'dropped') {
        this.#dropped += e.events ?? 0;
        this.#note();
        return;
      }
      this.#add(e);
    };
    ws.onclose = (c) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#stop.disabled = true;
      replace(this.#status, c.code === 1000 || c.code === 1005 ? 'Tap ended.' : `Tap closed (${c.code}${c.reason === '' ? '' : `: ${c.reason}`}).`);
      this.#status.dataset.state = 'closed';
    };
  }

  #close(message: string): void {
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000);
    this.#stop.disabled = true;
    if (message !== '') {
      replace(this.#status, message);
      this.#status.dataset.state = 'closed';
    }
  }

  #clear(): void {
    this.#body.replaceChildren();
    this.#count = 0;
    this.#dropped = 0;
  }

  #note(): void {
    replace(this.#status, `Tapping: ${this.#count} event(s) shown${this.#dropped > 0 ? `, ${this.#dropped} dropped because the stream could not keep up` : ''}.`);
  }

  #add(e: TapEvent): void {
    this.#count++;
    const failed = e.outcome === 'failed' || (e.status ?? 0) >= 500;
    const detail = e.type === 'request' ? `${e.method ?? ''} ${e.path ?? ''} → ${e.status ?? ''}` : `${e.bytesSent ?? 0} B out, ${e.bytesReceived ?? 0} B in`;
    const row = h('tr', { class: failed ? 'failed' : null, 'data-source': `${e.source.namespace}/${e.source.workload}`, 'data-destination': `${e.destination.namespace}/${e.destination.workload}` },
      h('td', {}, clock(e.at)), h('td', {}, e.node ?? ''), h('td', {}, e.type),
      h('td', {}, peer(e.source), h('br'), h('small', {}, shortIdentity(e.source.identity))),
      h('td', {}, peer(e.destination), h('br'), h('small', {}, `${e.destination.address}`)),
      h('td', {}, e.destination.service || '–'), h('td', {}, e.tls === 'mutual' ? 'yes' : 'no'),
      h('td', {}, detail), h('td', { class: failed ? 'health bad' : 'health ok' }, failed ? `failed${e.error ? ` (${e.error})` : ''}` : 'ok'),
      h('td', { class: 'num' }, `${e.durationMs.toFixed(1)} ms`));
    this.#body.prepend(row);
    while (this.#body.children.length > MAX_ROWS) this.#body.lastElementChild?.remove();
    this.#note();
  }
}
