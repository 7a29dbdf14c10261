// The agent's main thread: the config stream, the secret manager, redirection and the admin
// server. Proxy workers (one per core, or one proxy inline) do the byte moving; they get state and
// certificates from here, so there is one stream and one CSR per identity however many run.
// startAgent wires named parts and holds no path itself: ProxyThreads (proxy-threads.ts: start,
// ask, drain), RedirectReconciler (redirect-reconciler.ts), IdentitySync (identity-sync.ts),
// readinessOf (readiness.ts), the admin views (admin/agent-views.ts).
import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/log.ts';
import type { GuardedSink } from '../common/log-sink.ts';
import { resourceId, type WorkloadRecord } from '../control/api/model.ts';
import { mainSeries, registerAgentViews } from './admin/agent-views.ts';
import { createAdminServer, type AdminServer } from './admin/server.ts';
import { createMetricsServer, METRICS_PATH } from './admin/metrics-server.ts';
import { metricsListen, proxyLayout, type AgentConfig } from './config.ts';
import { IdentitySync } from './identity-sync.ts';
import { CachingSecretManager, ControlTrust, HttpsCertificateSigner } from './identity/index.ts';
import { Authorizer } from './policy/authorizer.ts';
import { mergePolicyCounters } from './policy/counters.ts';
import { ProxyThreads } from './proxy-threads.ts';
import { readinessOf } from './readiness.ts';
import { RedirectReconciler } from './redirect-reconciler.ts';
import { createRedirector, type EbpfRedirectorOptions, type Redirector } from './redirect/index.ts';
import { AgentState, StreamClient } from './state/index.ts';
import { AGENT_VERSION } from './version.ts';
import { startAgentTelemetry } from './telemetry/agent-telemetry.ts';
import { SummarySender } from './telemetry/summary-sender.ts';
import { SummaryTaps } from './telemetry/summary-taps.ts';
import type { ToWorker } from './worker-protocol.ts';
import { watchReadiness } from './readiness-log.ts';
import { PodScope } from './pod-scope.ts';

export interface AgentApp {
  readonly state: AgentState;
  /** SIGTERM path: readiness false, listeners closed, open connections drained (up to drainMs), then redirection removed. */
  stop(): Promise<void>;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** Where the agent's own log lines and its workers' output go: guarded against a full disk. */
export interface AgentSinks {
  stdout: GuardedSink;
  stderr: GuardedSink;
}

export async function startAgent(cfg: AgentConfig, log: Logger, workerEntry: URL, env: Record<string, string>, sinks: AgentSinks): Promise<AgentApp> {
  // Control's certificate is checked against the mounted bundle and the anchors control last sent
  // (its certificate follows the signing anchor through a rotation): see control-trust.ts.
  const controlTrust = new ControlTrust({
    file: cfg.controlCaFile,
    initial: await readFile(cfg.controlCaFile, 'utf8'),
    fromControl: () => secrets.trustBundle.anchors,
    log: log.child('identity'),
  });
  const caPem = controlTrust.anchors;
  const credential = async (): Promise<string> => (await readFile(cfg.credentialFile, 'utf8')).trim();
  const control = splitHostPort(cfg.controlAddress);
  const socketPath = cfg.controlSocket === '' ? undefined : cfg.controlSocket;

  const state = new AgentState({ log: log.child('state') });
  // Observability over the stream (the dashboard): summaries out, taps on control's request.
  let summaries: SummarySender | null = null;
  let streamTaps: SummaryTaps | null = null;
  const stream: StreamClient = new StreamClient({
    url: `wss://${cfg.controlAddress}`,
    socketPath,
    caPem,
    servername: cfg.controlServerName,
    node: cfg.nodeName,
    agentVersion: AGENT_VERSION,
    credential,
    state,
    log: log.child('stream'),
    onTap: (m) => (m.type === 'tap-start' ? streamTaps?.start(m.tapId, m.filter) : streamTaps?.stop(m.tapId)),
    onDisconnected: () => streamTaps?.stopAll(),
    onSynced: () => void summaries?.tick(),
  });
  const signer = new HttpsCertificateSigner({ ...control, socketPath, servername: cfg.controlServerName, caPem, token: credential, ttlSeconds: cfg.certTtlSeconds });
  const secrets = new CachingSecretManager({ signer, logger: log.child('identity') });
  // The ebpf redirector reads its extra fields (node name, pin root, objects); iptables ignores them.
  const redirectorOptions: EbpfRedirectorOptions = {
    outboundPort: cfg.outboundPort, inboundPort: cfg.inboundPlaintextPort, mark: cfg.mark, routeTable: cfg.routeTable,
    nodeName: cfg.nodeName, pinRoot: cfg.ebpfPinRoot, objectDir: cfg.ebpfObjectDir || undefined,
  };
  // Node scope: one redirector on the node. Pod scope: capture inside each pod (pod-scope.ts).
  const podScoped = cfg.captureScope === 'pod' && cfg.redirectMode !== 'none';
  const redirector: Redirector | null =
    cfg.redirectMode === 'none' || podScoped
      ? null
      : createRedirector(cfg.redirectMode, redirectorOptions);
  const localMeshed = (): WorkloadRecord[] => state.localWorkloads(cfg.nodeName).filter((w) => w.meshed);

  let stopping = false;
  let listening = false;
  // Logs "ready" / "not ready" as readiness changes (sampled, and checked at once on the events
  // that change it); started once the listeners are up.
  let readyLog: { check(): void; stop(): void } | null = null;
  const redirect = new RedirectReconciler({
    redirector,
    podScoped,
    modelReady: () => state.version !== null,
    workloads: () => localMeshed().map((w) => ({ key: w.key, ip: w.ip })),
    log,
    onSettled: () => readyLog?.check(),
  });
  let proxies: ProxyThreads | null = null;
  const readiness = (): { ready: boolean; reasons: string[] } =>
    readinessOf({ stopping, modelVersion: state.version, listening, redirect: redirect.status, fatal: proxies?.fatal ?? null });

  const admin: AdminServer = createAdminServer(readiness, log.child('admin'), { headersTimeoutMs: cfg.httpHeadersTimeoutMs });
  const telemetry = await startAgentTelemetry({
    collectWorkers: async () => (proxies === null ? [] : proxies.telemetry()),
    admin,
    log: log.child('telemetry'),
    env: (k) => process.env[k],
    resource: { 'service.name': 'weft-agent', 'service.version': AGENT_VERSION, 'k8s.node.name': cfg.nodeName },
    tapMaxBufferedBytes: cfg.tapMaxBufferedBytes,
    windowSeconds: cfg.statsWindowSeconds,
    sampleSeconds: Math.max(1, Math.floor(cfg.statsWindowSeconds / 6)),
    mainSeries: () => mainSeries({ secrets, signer, stream, sinks }),
  });

  const fullState = (): ToWorker => ({ type: 'state', reset: true, version: state.version ?? 0, upserts: state.records(), removes: [] });
  const layout = proxyLayout(cfg);
  const threads = new ProxyThreads({
    cfg, layout, entry: workerEntry, env, tapFlag: telemetry.tapFlag, sinks, log,
    certificate: (identity) => secrets.get(identity),
    onTap: (events) => {
      telemetry.publishTap(events);
      streamTaps?.publish(events);
    },
    onPodsSynced: (m) => redirect.pods?.onWorkerMessage(m),
    initialState: () => (state.version === null ? null : fullState()),
  });
  proxies = threads;
  // The main thread compiles the same policies as the workers, only to show them.
  const policyView = new Authorizer({ view: state, localNode: cfg.nodeName, log: log.child('policy') });
  state.onChange((change) => policyView.onStateChange(change));

  // --- state → proxies, redirection, certificates --------------------------------------------
  const identities = new IdentitySync(secrets, log.child('identity'));
  const syncIdentities = (): void => {
    // Pods not yet networked too: one captured at its CNI ADD needs its certificate at once.
    const pending = redirect.pods === null ? [] : state.localPending(cfg.nodeName);
    identities.sync([...localMeshed(), ...pending].map((w) => w.identity));
  };
  state.onChange((change) => {
    threads.broadcast(change.resync ? fullState() : { type: 'state', reset: false, version: change.version, upserts: change.upserts, removes: change.removes.map(resourceId) });
    redirect.reconcile();
    syncIdentities();
    for (const r of change.upserts) if (r.kind === 'trust') identities.trust(r);
  });
  secrets.on('rotated', (cert) => {
    log.info('certificate rotated', { identity: cert.identity, notAfter: cert.notAfter.toISOString() });
    threads.broadcast({ type: 'cert-rotated', cert });
  });

  // --- admin ----------------------------------------------------------------------------------
  registerAgentViews(admin, { cfg, state, stream, signer, secrets, identities, redirect, redirector, proxies: threads, policyView, sinks, inline: layout.inline });
  if (cfg.adminSocket !== '') await admin.listenUnix(cfg.adminSocket);
  if (cfg.adminPort !== 0) await admin.listenTcp(cfg.adminHost, cfg.adminPort);
  const metricsAt = metricsListen(cfg);
  const metricsRoute = admin.routeFor(METRICS_PATH);
  const metricsServer = metricsAt === null || metricsRoute === undefined ? null : createMetricsServer({ metrics: metricsRoute, reject: (r) => admin.countRejected(r), headersTimeoutMs: cfg.httpHeadersTimeoutMs });
  if (metricsServer !== null && metricsAt !== null) {
    try {
      await metricsServer.listen(metricsAt.host, metricsAt.port);
      log.info('metrics port listening', { address: cfg.metricsAddress, serves: METRICS_PATH });
    } catch (err) {
      await telemetry.close();
      await admin.close();
      await threads.terminate();
      throw err;
    }
  }

  streamTaps = new SummaryTaps({ send: (m) => stream.send(m), onCount: (n) => telemetry.setStreamTaps(n) });
  summaries = new SummarySender({
    intervalMs: cfg.summaryIntervalMs,
    log: log.child('summary'),
    send: (m) => stream.send(m),
    gather: async () => ({
      snapshot: await telemetry.collect(),
      policyCounters: mergePolicyCounters((await threads.policyStats()).map((w) => w.counters)),
      policies: policyView.dump(),
      certs: secrets.snapshot(),
    }),
  });
  summaries.start();
  stream.start();
  try {
    await threads.listening;
  } catch (err) {
    await threads.terminate();
    summaries.close();
    streamTaps.close();
    await telemetry.close();
    await metricsServer?.close();
    await admin.close();
    await stream.close();
    throw err;
  }
  if (podScoped) {
    const pods = new PodScope({
      cfg, log, localMeshed,
      broadcast: (m) => threads.broadcast(m),
      workloadByKey: (key) => state.workloadByKey(key),
      localPending: () => state.localPending(cfg.nodeName),
      pendingByKey: (key) => state.pendingByKey(key),
      modelKnowsScheduledPods: () => !stream.status().synced || stream.controlSends('pending-workload'),
    });
    redirect.pods = pods;
    try {
      await pods.start();
    } catch (err) {
      log.error('CNI relay socket could not listen; pods are found by scanning only', { socket: cfg.cniSocket, err });
    }
    // Re-adopt what is running now (after a restart: the same namespaces, captured once each).
    redirect.reconcile();
  }
  listening = true;
  log.info('proxy listening', { workers: threads.count, inline: layout.inline, outbound: cfg.outboundPort, inboundPlaintext: cfg.inboundPlaintextPort, hbone: cfg.hbonePort, l7H2Engine: cfg.l7H2Engine, l7H1Engine: cfg.l7H1Engine });
  // "ready" in the log when (and only when) /ready answers 200; until then what it waits for.
  readyLog = watchReadiness(readiness, log);

  return {
    state,
    async stop() {
      if (stopping) return;
      // Readiness goes false first (the kubelet and `weft check` see "draining"); the drain is
      // logged as such, not as "not ready".
      readyLog?.stop();
      stopping = true;
      log.info('draining', { drainMs: cfg.drainMs });
      await redirect.stop();
      // Proxies stop accepting and give open connections up to drainMs, then close the rest.
      // Redirection stays installed meanwhile: the packets of already accepted connections need
      // it to reach their sockets. New connections find no listener and TPROXY drops their SYN,
      // so clients retry until the next agent listens rather than bypassing the mesh.
      await threads.drain(cfg.drainMs);
      redirect.pods?.workersStopped();
      log.info('drained; removing redirection');
      // Last: with no proxy left, leave nothing on the node (an upgrade's next agent reinstalls).
      if (redirector !== null) {
        await redirector.uninstall().catch((err: unknown) => log.error('redirect uninstall failed', { err }));
      }
      await redirect.pods?.stop().catch((err: unknown) => log.error('in-pod capture removal failed', { err }));
      secrets.close();
      summaries?.close();
      streamTaps?.close();
      await telemetry.close();
      await stream.close();
      await metricsServer?.close();
      await admin.close();
    },
  };
}
