// `weft tap`: live events from the agent, filtered on the agent's side. One line per event; JSON
// lines with -o json. Runs until interrupted, --count events, or --duration.
import type WebSocket from 'ws';
import type { TapEvent } from '../telemetry/tap-events.ts';
import { openTap, type AgentTarget } from './admin-client.ts';

export interface TapOptions {
  filters: Record<string, string>;
  json: boolean;
  count: number | undefined;
  durationMs: number | undefined;
  out: (line: string) => void;
}

function peer(p: { workload: string; namespace: string; identity: string; address: string }): string {
  const who = p.workload === '' ? (p.namespace === '' ? '' : `${p.namespace}/?`) : `${p.namespace}/${p.workload}`;
  return who === '' ? p.address : `${who}(${p.address})`;
}

export function formatEvent(e: TapEvent): string {
  const base = `${e.at} ${e.direction.padEnd(8)} ${peer(e.source)} -> ${peer(e.destination)}${e.destination.service === '' ? '' : ` svc=${e.destination.service}`} tls=${e.tls}`;
  if (e.type === 'request') {
    return `${base} ${e.method} ${e.authority}${e.path} :status=${e.status} ${e.durationMs.toFixed(1)}ms ${e.outcome}`;
  }
  return `${base} sent=${e.bytesSent} recv=${e.bytesReceived} ${e.durationMs}ms ${e.outcome}${e.error === undefined ? '' : ` (${e.error})`}`;
}

export async function runTap(t: AgentTarget, o: TapOptions): Promise<number> {
  const q = new URLSearchParams(o.filters).toString();
  const ws: WebSocket = await openTap(t, q === '' ? '' : `?${q}`);
  let seen = 0;
  return new Promise((resolve) => {
    const stop = (): void => ws.close(1000);
    const timer = o.durationMs === undefined ? null : setTimeout(stop, o.durationMs);
    process.once('SIGINT', stop);
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as TapEvent | { type: 'tap-started' } | { type: 'dropped'; events: number };
      if (m.type === 'tap-started') return;
      if (m.type === 'dropped') {
        o.out(o.json ? JSON.stringify(m) : `# ${m.events} event(s) dropped: this terminal was too slow`);
        return;
      }
      o.out(o.json ? JSON.stringify(m) : formatEvent(m));
      if (o.count !== undefined && ++seen >= o.count) stop();
    });
    ws.on('close', () => {
      if (timer !== null) clearTimeout(timer);
      process.off('SIGINT', stop);
      resolve(0);
    });
    ws.on('error', () => undefined);
  });
}
