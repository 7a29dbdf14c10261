// The main thread's /config_dump views (agent, control, logs, state, certs, refused, trust,
// redirect, proxy, memory, policies, services) and the alert series /metrics adds to the
// proxies' telemetry: what `weft` and the dashboard read of one node. Registered once at start;
// each reads the live objects when asked.
import type { TelemetrySnapshot } from '../telemetry/aggregates.ts';
import type { AgentSinks } from '../app.ts';
import type { AgentConfig } from '../config.ts';
import type { IdentitySync } from '../identity-sync.ts';
import type { CachingSecretManager, HttpsCertificateSigner } from '../identity/index.ts';
import { mergePolicyCounters } from '../policy/counters.ts';
import type { Authorizer } from '../policy/authorizer.ts';
import type { ProxyThreads } from '../proxy-threads.ts';
import type { RedirectReconciler } from '../redirect-reconciler.ts';
import type { Redirector } from '../redirect/redirector.ts';
import type { AgentState, StreamClient } from '../state/index.ts';
import { AGENT_VERSION } from '../version.ts';
import { memoryDump } from './memory.ts';
import type { AdminServer } from './server.ts';

/** The live parts of the agent the views read. */
export interface AgentParts {
  cfg: AgentConfig;
  state: AgentState;
  stream: StreamClient;
  signer: HttpsCertificateSigner;
  secrets: CachingSecretManager;
  identities: IdentitySync;
  redirect: RedirectReconciler;
  redirector: Redirector | null;
  proxies: ProxyThreads;
  /** The main thread's compile of the policies, only to show them. */
  policyView: Authorizer;
  sinks: AgentSinks;
  inline: boolean;
}

export function registerAgentViews(admin: AdminServer, p: AgentParts): void {
  const { cfg, state } = p;
  admin.register({ key: 'agent', handle: () => ({ node: cfg.nodeName, version: AGENT_VERSION, redirectMode: cfg.redirectMode, captureScope: cfg.captureScope, workers: p.proxies.count, proxyInline: p.inline, trustDomain: cfg.trustDomain }) });
  admin.register({ key: 'control', handle: () => ({ ...p.stream.status(), clockOffsetMs: p.signer.clockOffsetMs() }) });
  admin.register({ key: 'logs', handle: () => [p.sinks.stdout.status(), p.sinks.stderr.status()] });
  admin.register({ key: 'state', handle: () => ({ version: state.version, records: state.size, localWorkloads: state.localWorkloads(cfg.nodeName).map((w) => ({ key: w.key, ip: w.ip, identity: w.identity, meshed: w.meshed, ...(w.namedPorts === undefined ? {} : { namedPorts: w.namedPorts }) })), localPending: state.localPending(cfg.nodeName).map((x) => ({ key: x.key, identity: x.identity })) }) });
  admin.register({ key: 'certs', handle: () => p.secrets.snapshot() });
  admin.register({ key: 'refused', handle: () => state.refusedObjects() });
  admin.register({ key: 'trust', handle: () => ({ version: p.identities.trustVersion, ...p.secrets.trustBundle.snapshot() }) });
  admin.register({
    key: 'redirect',
    handle: async () => {
      const pods = p.redirect.pods;
      if (pods !== null) return { mode: cfg.redirectMode, scope: 'pod', status: p.redirect.status, pods: pods.manager.status() };
      const r = p.redirector;
      return r === null ? { mode: 'none', scope: cfg.captureScope, status: p.redirect.status } : { mode: r.name, scope: 'node', status: p.redirect.status, installed: await r.describe() };
    },
  });
  admin.register({ key: 'proxy', handle: () => p.proxies.stats() });
  admin.register({ key: 'memory', handle: () => memoryDump(p.proxies.threads) });
  admin.register({
    key: 'policies',
    handle: async () => {
      const ws = await p.proxies.policyStats();
      return {
        version: state.version,
        workerVersions: ws.map((w) => w.version),
        live: ws.reduce((n, w) => n + w.live, 0),
        counters: mergePolicyCounters(ws.map((w) => w.counters)),
        workloads: p.policyView.dump(),
      };
    },
  });
  admin.register({ key: 'services', handle: () => state.records().filter((r) => r.kind === 'service') });
}

/** Alerts on /metrics from the main thread: what the certificates have left, renewal failures, control, lost log lines. */
export function mainSeries(p: Pick<AgentParts, 'secrets' | 'signer' | 'stream' | 'sinks'>): { counters: TelemetrySnapshot['counters']; gauges: NonNullable<TelemetrySnapshot['gauges']> } {
  const now = Date.now();
  const certs = p.secrets.snapshot();
  const offset = p.signer.clockOffsetMs();
  const st = p.stream.status();
  return {
    counters: [
      ...certs.map((c) => ({ name: 'cert_renewal_failures' as const, labels: { identity: c.identity }, value: c.failuresTotal })),
      ...[p.sinks.stdout, p.sinks.stderr].map((k) => ({ name: 'log_write_failures' as const, labels: { stream: k.status().stream }, value: k.status().failures })),
    ],
    gauges: [
      ...certs.filter((c) => c.notAfter !== null).map((c) => ({ name: 'cert_expiry_seconds' as const, labels: { identity: c.identity }, value: Math.round((Date.parse(c.notAfter ?? '') - now) / 1000) })),
      { name: 'control_connected', labels: {}, value: st.connected && st.synced ? 1 : 0 },
      ...(offset === null ? [] : [{ name: 'control_clock_offset_seconds' as const, labels: {}, value: Math.round(offset / 100) / 10 }]),
    ],
  };
}
