// The agent's main thread: the config stream, the secret manager, redirection and the admin
// server. Proxy workers (one per core) do the byte moving; they get state and certificates from
// here, so there is one stream and one CSR per identity however many workers run.
import { readFile } from 'node:fs/promises';
import { errorCode } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { GuardedSink } from '../common/log-sink.ts';
import { resourceId, type WorkloadRecord } from '../control/api/model.ts';
import { memoryDump } from './admin/memory.ts';
import { createAdminServer, type AdminServer } from './admin/server.ts';
import { createMetricsServer, METRICS_PATH } from './admin/metrics-server.ts';
import { metricsListen, proxyLayout, workerHeapLimits, type AgentConfig } from './config.ts';
import { startProxyThread, type ProxyThread } from './proxy-thread.ts';
import { CachingSecretManager, ControlTrust, HttpsCertificateSigner } from './identity/index.ts';
import { Authorizer } from './policy/authorizer.ts';
import { mergePolicyCounters } from './policy/counters.ts';
import { sumStats, type StatsJson } from './proxy/stats.ts';
import { createRedirector, type EbpfRedirectorOptions, type Redirector } from './redirect/index.ts';
import { AgentState, StreamClient } from './state/index.ts';
import { AGENT_VERSION } from './version.ts';
import { startAgentTelemetry } from './telemetry/agent-telemetry.ts';
import type { TelemetrySnapshot } from './telemetry/aggregates.ts';
import { SummarySender } from './telemetry/summary-sender.ts';
import { SummaryTaps } from './telemetry/summary-taps.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerPolicyStats } from './worker-protocol.ts';
import { redirectNotReady, type RedirectStatus } from './redirect/redirect-status.ts';
import { watchReadiness } from './readiness-log.ts';
import { PodScope } from './pod-scope.ts';

export interface AgentApp {
  readonly state: AgentState;
  /** SIGTERM path: readiness false, listeners closed, open connections drained (up to drainMs), then redirection removed. */
  stop(): Promise<void>;
}

interface WorkerHandle {
  worker: ProxyThread;
  listening: boolean;
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
  let pods: PodScope | null = null;

  // --- workers -------------------------------------------------------------------------------
  const workers: WorkerHandle[] = [];
  const telemetryWaiters = new Map<number, { want: number; got: TelemetrySnapshot[]; done: (s: TelemetrySnapshot[]) => void }>();
  const admin: AdminServer = createAdminServer(() => readiness(), log.child('admin'), { headersTimeoutMs: cfg.httpHeadersTimeoutMs });
  const telemetry = await startAgentTelemetry({
    collectWorkers: () => gather(telemetryWaiters, 'telemetry-request'),
    admin,
    log: log.child('telemetry'),
    env: (k) => process.env[k],
    resource: { 'service.name': 'weft-agent', 'service.version': AGENT_VERSION, 'k8s.node.name': cfg.nodeName },
    tapMaxBufferedBytes: cfg.tapMaxBufferedBytes,
    windowSeconds: cfg.statsWindowSeconds,
    sampleSeconds: Math.max(1, Math.floor(cfg.statsWindowSeconds / 6)),
    mainSeries: () => mainSeries(),
  });
  const statsWaiters = new Map<number, { want: number; got: StatsJson[]; done: (s: StatsJson) => void }>();
  const policyWaiters = new Map<number, { want: number; got: WorkerPolicyStats[]; done: (s: WorkerPolicyStats[]) => void }>();
  let nextReq = 1;
  let ready = false;
  let stopping = false;
  // Redirection's state, for /ready, /config_dump/redirect and `weft check` alike: pending until
  // the first reconcile (which needs control's first snapshot), then installed or failed.
  let redirect: RedirectStatus = redirector === null && !podScoped ? { state: 'none' } : { state: 'pending' };
  // Logs "ready" / "not ready" as readiness changes (sampled, and checked at once on the events
  // that change it); started once the listeners are up.
  let readyLog: { check(): void; stop(): void } | null = null;
  let fatal: Error | null = null;

  const broadcast = (m: ToWorker): number => {
    for (const w of workers) w.worker.postMessage(m);
    return workers.length;
  };
  const fullState = (): ToWorker => ({ type: 'state', reset: true, version: state.version ?? 0, upserts: state.records(), removes: [] });

  const layout = proxyLayout(cfg);
  const listening = new Promise<void>((resolveAll, rejectAll) => {
    for (let i = 0; i < layout.count; i++) {
      const init: WorkerInit = { role: 'weft-proxy-worker', index: i, env, tapFlag: telemetry.tapFlag };
      // The proxies' output (logs, access log) goes through the main thread's guarded sinks: a
      // full log disk must cost lines, not the process.
      const worker = startProxyThread({ init, entry: workerEntry, resourceLimits: workerHeapLimits(cfg), sinks }, layout.inline);
      const h: WorkerHandle = { worker, listening: false };
      workers.push(h);
      worker.onMessage((m: FromWorker) => {
        switch (m.type) {
          case 'listening':
            h.listening = true;
            if (workers.every((x) => x.listening)) resolveAll();
            break;
          case 'listen-failed':
            rejectAll(Object.assign(new Error(`proxy worker ${i} could not listen: ${m.message}`), { code: m.code }));
            break;
          case 'cert-request':
            secrets.get(m.identity).then(
              (cert) => worker.postMessage({ type: 'cert', reqId: m.reqId, cert } satisfies ToWorker),
              (err: unknown) => worker.postMessage({ type: 'cert', reqId: m.reqId, error: { code: errorCode(err), message: (err as Error).message } } satisfies ToWorker),
            );
            break;
          case 'stats': {
            const w = statsWaiters.get(m.reqId);
            if (w === undefined) break;
            w.got.push(m.stats);
            if (w.got.length === w.want) {
              statsWaiters.delete(m.reqId);
              w.done(sumStats(w.got));
            }
            break;
          }
          case 'policy-stats': {
            const w = policyWaiters.get(m.reqId);
            if (w === undefined) break;
            w.got.push(m.stats);
            if (w.got.length === w.want) {
              policyWaiters.delete(m.reqId);
              w.done(w.got);
            }
            break;
          }
          case 'telemetry': {
            const w = telemetryWaiters.get(m.reqId);
            if (w === undefined) break;
            w.got.push(m.snapshot);
            if (w.got.length === w.want) {
              telemetryWaiters.delete(m.reqId);
              w.done(w.got);
            }
            break;
          }
          case 'tap-events':
            telemetry.publishTap(m.events);
            streamTaps?.publish(m.events);
            break;
          case 'drained':
            break;
          case 'pods-synced':
            pods?.onWorkerMessage(m);
            break;
        }
      });
      worker.onError((err) => {
        fatal = err;
        log.error('proxy worker crashed', { worker: i, err });
        rejectAll(err);
      });
      if (state.version !== null) worker.postMessage(fullState());
    }
  });

  function proxyStats(): Promise<StatsJson> {
    const reqId = nextReq++;
    return new Promise((resolve) => {
      statsWaiters.set(reqId, { want: workers.length, got: [], done: resolve });
      broadcast({ type: 'stats-request', reqId });
      setTimeout(() => {
        const w = statsWaiters.get(reqId);
        if (w !== undefined) {
          statsWaiters.delete(reqId);
          resolve(sumStats(w.got));
        }
      }, 2000).unref();
    });
  }

  /** Asks every worker; answers with what arrived within 2 s (a stuck worker must not hang /metrics). */
  function gather<T>(waiters: Map<number, { want: number; got: T[]; done: (s: T[]) => void }>, type: 'telemetry-request' | 'policy-stats-request'): Promise<T[]> {
    const reqId = nextReq++;
    return new Promise((resolve) => {
      waiters.set(reqId, { want: workers.length, got: [], done: resolve });
      broadcast({ type, reqId });
      setTimeout(() => {
        const w = waiters.get(reqId);
        if (w !== undefined) {
          waiters.delete(reqId);
          resolve(w.got);
        }
      }, 2000).unref();
    });
  }
  const workerPolicyStats = (): Promise<WorkerPolicyStats[]> => gather(policyWaiters, 'policy-stats-request');
  // The main thread compiles the same policies as the workers, only to show them.
  const policyView = new Authorizer({ view: state, localNode: cfg.nodeName, log: log.child('policy') });
  state.onChange((change) => policyView.onStateChange(change));

  // --- state → workers, redirection, certificates -------------------------------------------
  const localMeshed = (): WorkloadRecord[] => state.localWorkloads(cfg.nodeName).filter((w) => w.meshed);
  let reconciling: Promise<void> = Promise.resolve();
  const reconcileRedirect = (): void => {
    if ((redirector === null && pods === null) || stopping || state.version === null) return;
    reconciling = reconciling.then(async () => {
      if (stopping) return;
      try {
        if (pods !== null) {
          // The model is complete here (state.version set): stale capture from before a restart can go.
          await pods.manager.reconcile({ sweep: true });
          const st = pods.manager.status();
          const failed = st.pods.filter((p) => p.state === 'failed');
          redirect = failed.length === 0
            ? { state: 'installed', pods: { captured: st.captured, missing: st.missing.length } }
            : { state: 'failed', error: `${failed.length} pod(s) not captured: ${failed.map((p) => `${p.key}: ${p.error ?? ''}`).join('; ')}` };
        } else if (redirector !== null) {
          await redirector.reconcile(localMeshed().map((w) => ({ key: w.key, ip: w.ip })));
          redirect = { state: 'installed' };
        }
      } catch (err) {
        redirect = { state: 'failed', error: `${errorCode(err)}: ${(err as Error).message}` };
        log.error('redirect reconcile failed; will retry on the next change', { err });
      }
      readyLog?.check();
    });
  };
  const known = new Set<string>();
  const syncIdentities = (): void => {
    // Pods not yet networked too: one captured at its CNI ADD needs its certificate at once.
    const now = new Set([...localMeshed(), ...(pods === null ? [] : state.localPending(cfg.nodeName))].map((w) => w.identity));
    for (const id of now) {
      if (known.has(id)) continue;
      known.add(id);
      // Fetch ahead so the first connection does not wait for a CSR.
      secrets.get(id).catch((err: unknown) => log.warn('certificate request failed', { identity: id, code: errorCode(err), message: (err as Error).message }));
    }
    for (const id of known) {
      if (!now.has(id)) {
        known.delete(id);
        secrets.forget(id);
      }
    }
  };
  // Control's trust anchors (fingerprints only). A change means a root rotation step: re-issue
  // every certificate now, so workloads move to the new signing anchor and learn the new anchor
  // set from the CSR answers, instead of waiting for half their lifetime.
  let trustVersion: string | null = null;
  state.onChange((change) => {
    broadcast(change.resync ? fullState() : { type: 'state', reset: false, version: change.version, upserts: change.upserts, removes: change.removes.map(resourceId) });
    reconcileRedirect();
    syncIdentities();
    for (const r of change.upserts) {
      if (r.kind !== 'trust') continue;
      if (trustVersion !== null && trustVersion !== r.version) {
        log.info('trust anchors changed; re-issuing certificates', { version: r.version, signing: r.signing, anchors: r.anchors.length });
        secrets.renewAll();
      }
      trustVersion = r.version;
    }
  });
  secrets.on('rotated', (cert) => {
    log.info('certificate rotated', { identity: cert.identity, notAfter: cert.notAfter.toISOString() });
    broadcast({ type: 'cert-rotated', cert });
  });

  /** Alerts on /metrics: what the certificates have left, renewal failures, control, lost log lines. */
  function mainSeries(): { counters: TelemetrySnapshot['counters']; gauges: NonNullable<TelemetrySnapshot['gauges']> } {
    const now = Date.now();
    const certs = secrets.snapshot();
    const offset = signer.clockOffsetMs();
    const st = stream.status();
    return {
      counters: [
        ...certs.map((c) => ({ name: 'cert_renewal_failures' as const, labels: { identity: c.identity }, value: c.failuresTotal })),
        ...[sinks.stdout, sinks.stderr].map((k) => ({ name: 'log_write_failures' as const, labels: { stream: k.status().stream }, value: k.status().failures })),
      ],
      gauges: [
        ...certs.filter((c) => c.notAfter !== null).map((c) => ({ name: 'cert_expiry_seconds' as const, labels: { identity: c.identity }, value: Math.round((Date.parse(c.notAfter ?? '') - now) / 1000) })),
        { name: 'control_connected', labels: {}, value: st.connected && st.synced ? 1 : 0 },
        ...(offset === null ? [] : [{ name: 'control_clock_offset_seconds' as const, labels: {}, value: Math.round(offset / 100) / 10 }]),
      ],
    };
  }

  // --- admin ----------------------------------------------------------------------------------
  function readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (stopping) reasons.push('draining');
    if (state.version === null) reasons.push('no config snapshot from control yet');
    if (!ready) reasons.push('proxy listeners not up');
    const why = redirectNotReady(redirect);
    if (why !== null) reasons.push(why);
    if (fatal !== null) reasons.push(`worker failed: ${fatal.message}`);
    return { ready: reasons.length === 0, reasons };
  }
  admin.register({ key: 'agent', handle: () => ({ node: cfg.nodeName, version: AGENT_VERSION, redirectMode: cfg.redirectMode, captureScope: cfg.captureScope, workers: workers.length, proxyInline: layout.inline, trustDomain: cfg.trustDomain }) });
  admin.register({ key: 'control', handle: () => ({ ...stream.status(), clockOffsetMs: signer.clockOffsetMs() }) });
  admin.register({ key: 'logs', handle: () => [sinks.stdout.status(), sinks.stderr.status()] });
  admin.register({ key: 'state', handle: () => ({ version: state.version, records: state.size, localWorkloads: state.localWorkloads(cfg.nodeName).map((w) => ({ key: w.key, ip: w.ip, identity: w.identity, meshed: w.meshed, ...(w.namedPorts === undefined ? {} : { namedPorts: w.namedPorts }) })), localPending: state.localPending(cfg.nodeName).map((p) => ({ key: p.key, identity: p.identity })) }) });
  admin.register({ key: 'certs', handle: () => secrets.snapshot() });
  admin.register({ key: 'refused', handle: () => state.refusedObjects() });
  admin.register({ key: 'trust', handle: () => ({ version: trustVersion, ...secrets.trustBundle.snapshot() }) });
  admin.register({
    key: 'redirect',
    handle: async () => {
      if (pods !== null) return { mode: cfg.redirectMode, scope: 'pod', status: redirect, pods: pods.manager.status() };
      return redirector === null ? { mode: 'none', scope: cfg.captureScope, status: redirect } : { mode: redirector.name, scope: 'node', status: redirect, installed: await redirector.describe() };
    },
  });
  admin.register({ key: 'proxy', handle: () => proxyStats() });
  admin.register({ key: 'memory', handle: () => memoryDump(workers.map((w) => w.worker)) });
  admin.register({
    key: 'policies',
    handle: async () => {
      const ws = await workerPolicyStats();
      return {
        version: state.version,
        workerVersions: ws.map((w) => w.version),
        live: ws.reduce((n, w) => n + w.live, 0),
        counters: mergePolicyCounters(ws.map((w) => w.counters)),
        workloads: policyView.dump(),
      };
    },
  });
  admin.register({ key: 'services', handle: () => state.records().filter((r) => r.kind === 'service') });
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
      await Promise.all(workers.map((w) => w.worker.terminate()));
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
      policyCounters: mergePolicyCounters((await workerPolicyStats()).map((w) => w.counters)),
      policies: policyView.dump(),
      certs: secrets.snapshot(),
    }),
  });
  summaries.start();
  stream.start();
  try {
    await listening;
  } catch (err) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    summaries.close();
    streamTaps.close();
    await telemetry.close();
    await metricsServer?.close();
    await admin.close();
    await stream.close();
    throw err;
  }
  if (podScoped) {
    pods = new PodScope({
      cfg, log, broadcast, localMeshed,
      workloadByKey: (key) => state.workloadByKey(key),
      localPending: () => state.localPending(cfg.nodeName),
      pendingByKey: (key) => state.pendingByKey(key),
      modelKnowsScheduledPods: () => !stream.status().synced || stream.controlSends('pending-workload'),
    });
    try {
      await pods.start();
    } catch (err) {
      log.error('CNI relay socket could not listen; pods are found by scanning only', { socket: cfg.cniSocket, err });
    }
    // Re-adopt what is running now (after a restart: the same namespaces, captured once each).
    reconcileRedirect();
  }
  ready = true;
  log.info('proxy listening', { workers: workers.length, inline: layout.inline, outbound: cfg.outboundPort, inboundPlaintext: cfg.inboundPlaintextPort, hbone: cfg.hbonePort, l7H2Engine: cfg.l7H2Engine, l7H1Engine: cfg.l7H1Engine });
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
      await reconciling;
      // Workers stop accepting and give open connections up to drainMs, then close the rest.
      // Redirection stays installed meanwhile: the packets of already accepted connections need
      // it to reach their sockets. New connections find no listener and TPROXY drops their SYN,
      // so clients retry until the next agent listens rather than bypassing the mesh.
      const drained = Promise.all(workers.map((w) => new Promise<void>((r) => {
        w.worker.onceExit(() => r());
        w.worker.postMessage({ type: 'drain' } satisfies ToWorker);
      })));
      const timer = new Promise<void>((r) => setTimeout(r, cfg.drainMs + 1000).unref());
      await Promise.race([drained, timer]);
      await Promise.all(workers.map((w) => w.worker.terminate()));
      pods?.workersStopped();
      log.info('drained; removing redirection');
      // Last: with no proxy left, leave nothing on the node (an upgrade's next agent reinstalls).
      if (redirector !== null) {
        await redirector.uninstall().catch((err: unknown) => log.error('redirect uninstall failed', { err }));
      }
      await pods?.stop().catch((err: unknown) => log.error('in-pod capture removal failed', { err }));
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
