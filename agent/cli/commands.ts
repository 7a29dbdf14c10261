// The one-shot `weft` commands: each reads admin endpoints and returns both a JSON value (for
// `-o json`) and a human table. Registered by name; main.ts only dispatches.
import type { DescribedWorkloadPolicy } from '../policy/describe.ts';
import type { GoldenRow, Edge, TopRow } from '../telemetry/golden.ts';
import { getJson, getRaw, type AgentTarget } from './admin-client.ts';
import { bytes, dash, pct, rate, seconds, table } from './table.ts';

export interface CommandContext {
  target: AgentTarget;
  args: string[];
  flags: { by?: string | undefined };
}

export interface CommandResult {
  json: unknown;
  human: string;
  /** Non-zero for "ran fine, but the answer is bad" (check). */
  exitCode?: number;
}

export interface Command {
  name: string;
  summary: string;
  run(ctx: CommandContext): Promise<CommandResult>;
}

interface ReadyAnswer { ready: boolean; reasons: string[] }
interface AgentSection { node: string; version: string; redirectMode: string; captureScope?: string; workers: number; trustDomain: string }
interface ControlSection { connected: boolean; synced: boolean; lastVersion: number | null; lastError: { code: string; message: string; at?: string } | null; since: string | null; reconnects: number }

/** `weft status`'s control row: the connection, and when it is down, the last error's code and message. */
export function controlSummary(c: Pick<ControlSection, 'connected' | 'synced' | 'lastError'>): string {
  if (c.connected) return c.synced ? 'connected, synced' : 'connected, syncing';
  return c.lastError === null ? 'disconnected' : `disconnected (${c.lastError.code}: ${c.lastError.message})`;
}
interface CertRow { identity: string; state: string; serialNumber: string | null; notBefore: string | null; notAfter: string | null; rotateAt: string | null; failures: number; lastError: unknown }
interface LocalWorkload { key: string; ip: string; identity: string; meshed: boolean; namedPorts?: Record<string, number> }
interface ServiceRec { key: string; clusterIP: string | null; ports: Array<{ port: number; targetPort: number | string; name?: string }>; selector: Record<string, string> }

/** Ready answers 503 when not ready: that is an answer, not a failure. */
async function readiness(t: AgentTarget): Promise<ReadyAnswer> {
  const a = await getRaw(t, '/ready');
  return JSON.parse(a.text) as ReadyAnswer;
}

const status: Command = {
  name: 'status',
  summary: 'agent readiness, node, version, control connection',
  async run({ target }) {
    const ready = await readiness(target);
    const dump = await getJson<{ agent: AgentSection; control: ControlSection }>(target, '/config_dump');
    const json = { ready: ready.ready, reasons: ready.reasons, agent: dump.agent, control: dump.control };
    const human = table(['FIELD', 'VALUE'], [
      ['ready', ready.ready ? 'yes' : `no (${ready.reasons.join('; ')})`],
      ['node', dump.agent.node],
      ['version', dump.agent.version],
      // An older agent has no captureScope: it captures at the node.
      ['redirect', `${dump.agent.redirectMode} (${dump.agent.captureScope ?? 'node'} scope)`],
      ['workers', String(dump.agent.workers)],
      ['trust domain', dump.agent.trustDomain],
      ['control', controlSummary(dump.control)],
      ['config version', dash(dump.control.lastVersion === null ? null : String(dump.control.lastVersion))],
    ]);
    return { json, human };
  },
};

const workloads: Command = {
  name: 'workloads',
  summary: "this node's workloads, their IPs and identities",
  async run({ target }) {
    const rows = (await getJson<{ state: { localWorkloads: LocalWorkload[] } }>(target, '/config_dump/state')).state.localWorkloads;
    return { json: rows, human: table(['WORKLOAD', 'IP', 'MESHED', 'IDENTITY'], rows.map((w) => [w.key, w.ip, w.meshed ? 'yes' : 'no', w.identity])) };
  },
};

const services: Command = {
  name: 'services',
  summary: 'services the agent knows, with cluster IPs and ports',
  async run({ target }) {
    const s = (await getJson<{ services: ServiceRec[] }>(target, '/config_dump/services')).services;
    return {
      json: s,
      human: table(['SERVICE', 'CLUSTER-IP', 'PORTS'], s.map((x) => [x.key, dash(x.clusterIP), x.ports.map((p) => `${p.port}→${p.targetPort}`).join(',')])),
    };
  },
};

const certs: Command = {
  name: 'certs',
  summary: 'workload certificates: identity, state, not-after, next rotation',
  async run({ target }) {
    const c = (await getJson<{ certs: CertRow[] }>(target, '/config_dump/certs')).certs;
    return {
      json: c,
      human: table(['IDENTITY', 'STATE', 'SERIAL', 'NOT-AFTER', 'NEXT ROTATION', 'FAILURES'],
        c.map((x) => [x.identity, x.state, dash(x.serialNumber), dash(x.notAfter), dash(x.rotateAt), String(x.failures)])),
    };
  },
};

interface PolicyView {
  counters?: { denied: number; audited: number; closed: number };
  workloads?: Record<string, DescribedWorkloadPolicy>;
}

const policies: Command = {
  name: 'policies',
  summary: 'per local workload: mTLS mode, default inbound policy, the ALLOW/DENY/AUDIT policies that select it, and denial counts',
  async run({ target }) {
    const dump = await getJson<{ policies?: PolicyView }>(target, '/config_dump/policies');
    const view = dump.policies ?? {};
    const rows = Object.entries(view.workloads ?? {}).map(([workload, w]) => ({ workload, ...w }));
    const names = (ps: DescribedWorkloadPolicy['allow']): string => (ps.length === 0 ? '-' : ps.map((x) => x.policy).join(','));
    const c = view.counters ?? { denied: 0, audited: 0, closed: 0 };
    const human =
      table(['WORKLOAD', 'MTLS', 'DEFAULT', 'DENY', 'ALLOW', 'AUDIT'], rows.map((r) => [r.workload, `${r.mtls} (${r.mtlsFrom})`, `${r.defaultInbound} (${r.defaultInboundFrom})`, names(r.deny), names(r.allow), names(r.audit)])) +
      `\ndenied ${c.denied}, audited ${c.audited}, open connections closed by a policy change ${c.closed}\n`;
    return { json: { workloads: rows, counters: c }, human };
  },
};

const configDump: Command = {
  name: 'config-dump',
  summary: "the agent's full /config_dump (or one section: weft config-dump certs)",
  async run({ target, args }) {
    const dump = await getJson<unknown>(target, args[0] === undefined ? '/config_dump' : `/config_dump/${encodeURIComponent(args[0])}`);
    return { json: dump, human: JSON.stringify(dump, null, 2) + '\n' };
  },
};

function statRow(r: GoldenRow, by: string): string[] {
  const k = r.key;
  const name = by === 'workload' ? [dash(k.namespace), dash(k.workload)] : by === 'service' ? [k.service] : [dash(k.source), dash(k.destination), k.tls];
  const h = r.http;
  return [
    ...name,
    rate(r.tcp.connectionRate), pct(r.tcp.failureRate), String(r.tcp.active), bytes(r.tcp.bytesSent), bytes(r.tcp.bytesReceived),
    h === null ? '-' : rate(h.requestRate), h === null ? '-' : pct(h.successRate),
    h === null ? '-' : seconds(h.latencyP50), h === null ? '-' : seconds(h.latencyP95), h === null ? '-' : seconds(h.latencyP99),
  ];
}

const stat: Command = {
  name: 'stat',
  summary: 'golden metrics per workload (default), service or edge: weft stat [workload|service|edge]',
  async run({ target, args, flags }) {
    const by = args[0] ?? flags.by ?? 'workload';
    const s = await getJson<{ by: string; windowSeconds: number; rows: GoldenRow[] }>(target, `/stats?by=${encodeURIComponent(by)}`);
    const name = by === 'workload' ? ['NAMESPACE', 'WORKLOAD'] : by === 'service' ? ['SERVICE'] : ['SOURCE', 'DESTINATION', 'TLS'];
    const human = table([...name, 'CONN/S', 'CONN-FAIL', 'ACTIVE', 'SENT', 'RECEIVED', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99'], s.rows.map((r) => statRow(r, by)))
      + `(rates over the last ${Math.round(s.windowSeconds)}s; bytes since the agent started)\n`;
    return { json: s, human };
  },
};

const top: Command = {
  name: 'top',
  summary: 'most-hit destinations right now (paths when L7 lands)',
  async run({ target }) {
    const s = await getJson<{ windowSeconds: number; destinations: TopRow[] }>(target, '/top');
    return {
      json: s,
      human: table(['DESTINATION', 'KIND', 'CONNECTIONS', 'CONN/S', 'REQUESTS', 'RPS'],
        s.destinations.map((d) => [d.destination, d.kind, String(d.connections), rate(d.connectionRate), String(d.requests), rate(d.requestRate)])),
    };
  },
};

const edgesCmd: Command = {
  name: 'edges',
  summary: 'who talked to whom, with identities, as this agent saw it',
  async run({ target }) {
    const s = await getJson<{ edges: Edge[] }>(target, '/edges');
    const who = (p: { workload: string; namespace: string }): string => (p.workload === '' ? (p.namespace === '' ? '(outside)' : `${p.namespace}/?`) : `${p.namespace}/${p.workload}`);
    return {
      json: s.edges,
      human: table(['SOURCE', 'SOURCE-IDENTITY', 'DESTINATION', 'DESTINATION-IDENTITY', 'TLS', 'SEEN-AS', 'CONNECTIONS', 'FAILED', 'LAST-SEEN'],
        s.edges.map((e) => [who(e.source), dash(e.source.identity), who(e.destination), dash(e.destination.identity), e.tls, e.observedAs, String(e.connections), String(e.failed), e.lastSeen])),
    };
  },
};

export const COMMANDS: readonly Command[] = [status, workloads, services, certs, policies, configDump, stat, top, edgesCmd];
