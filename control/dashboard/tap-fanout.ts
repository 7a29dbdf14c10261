// The dashboard's live tap. Control cannot reach agents' admin sockets in a cluster, so a viewer's
// tap is fanned out over the config streams: tap-start with the viewer's filter to every
// connected agent (and to agents that connect later), their tap-events routed back to the
// viewer's WebSocket, tap-stop when the viewer leaves. Every hop is bounded: agents cap batches
// and their stream backlog, and a viewer that does not read loses events (counted, and told).
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/log.ts';
import type { StreamTapFilter, TapEventsMessage, TapStartMessage, TapStopMessage } from '../api/summary.ts';

export interface TapAgent {
  readonly node: string | null;
  sendTap(msg: TapStartMessage | TapStopMessage): void;
}

export interface TapFanoutOptions {
  agents(): TapAgent[];
  log: Logger;
  /** Unsent bytes a viewer may have queued before its events are dropped. */
  maxBufferedBytes?: number;
  /** Viewers at once: each costs every agent a tap. */
  maxViewers?: number;
}

interface Viewer {
  id: string;
  ws: WebSocket;
  filter: StreamTapFilter;
  sent: number;
  dropped: number;
  unreported: number;
}

export const TAP_FILTER_QUERY: Record<string, keyof StreamTapFilter> = {
  namespace: 'namespace', workload: 'workload', service: 'service', method: 'method', path_prefix: 'pathPrefix', status_class: 'statusClass',
};

export class TapFilterQueryError extends Error {}

export function tapFilterFromQuery(q: URLSearchParams): StreamTapFilter {
  const f: StreamTapFilter = {};
  for (const [k, v] of q) {
    if (k === 'token') continue;
    const field = TAP_FILTER_QUERY[k];
    if (field === undefined) throw new TapFilterQueryError(`unknown tap filter "${k}"; filters: ${Object.keys(TAP_FILTER_QUERY).join(', ')}`);
    if (v.length > 256) throw new TapFilterQueryError(`tap filter ${k} is too long`);
    if (v === '') continue;
    if (field === 'statusClass' && !/^[1-5]xx$/.test(v)) throw new TapFilterQueryError(`status_class must be 1xx…5xx, got "${v}"`);
    f[field] = field === 'method' ? v.toUpperCase() : v;
  }
  return f;
}

export class TapFanout {
  readonly #o: TapFanoutOptions;
  readonly #viewers = new Map<string, Viewer>();
  dropped = 0;

  constructor(o: TapFanoutOptions) {
    this.#o = o;
  }

  get viewers(): number {
    return this.#viewers.size;
  }

  /** A viewer connected (the WebSocket is open). False when too many viewers are tapping. */
  add(ws: WebSocket, filter: StreamTapFilter): boolean {
    if (this.#viewers.size >= (this.#o.maxViewers ?? 16)) {
      ws.close(1013, 'too many tap viewers; try again later');
      return false;
    }
    const v: Viewer = { id: randomUUID(), ws, filter, sent: 0, dropped: 0, unreported: 0 };
    this.#viewers.set(v.id, v);
    const agents = this.#o.agents();
    for (const a of agents) a.sendTap({ type: 'tap-start', tapId: v.id, filter });
    ws.send(JSON.stringify({ type: 'tap-started', filter, agents: agents.map((a) => a.node).filter((n) => n !== null) }));
    ws.on('error', () => undefined);
    ws.on('close', () => this.#remove(v));
    this.#o.log.info('dashboard tap started', { filter, agents: agents.length, viewers: this.#viewers.size });
    return true;
  }

  /** A newly streaming agent joins every open tap. */
  agentStreaming(agent: TapAgent): void {
    for (const v of this.#viewers.values()) agent.sendTap({ type: 'tap-start', tapId: v.id, filter: v.filter });
  }

  /** Events from one agent, for one viewer; events for a viewer that left are ignored. */
  deliver(node: string, msg: TapEventsMessage): void {
    const v = this.#viewers.get(msg.tapId);
    if (v === undefined) return;
    if (msg.dropped > 0) {
      v.unreported += msg.dropped;
      v.dropped += msg.dropped;
      this.dropped += msg.dropped;
    }
    if (v.ws.readyState !== v.ws.OPEN) return;
    if (v.ws.bufferedAmount > (this.#o.maxBufferedBytes ?? 1 << 20)) {
      v.unreported += msg.events.length;
      v.dropped += msg.events.length;
      this.dropped += msg.events.length;
      return;
    }
    if (v.unreported > 0) {
      v.ws.send(JSON.stringify({ type: 'dropped', events: v.unreported }));
      v.unreported = 0;
    }
    for (const e of msg.events) {
      v.ws.send(JSON.stringify({ ...e, node }));
      v.sent++;
    }
  }

  #remove(v: Viewer): void {
    if (!this.#viewers.delete(v.id)) return;
    for (const a of this.#o.agents()) a.sendTap({ type: 'tap-stop', tapId: v.id });
    this.#o.log.info('dashboard tap ended', { sent: v.sent, dropped: v.dropped, viewers: this.#viewers.size });
  }

  close(): void {
    for (const v of [...this.#viewers.values()]) {
      v.ws.terminate();
      this.#remove(v);
    }
  }
}
