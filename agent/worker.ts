// A proxy worker thread: mirrors the main thread's state, asks it for certificates, and runs one
// proxy instance on SO_REUSEPORT listeners. Deciding and moving bytes happen here; nothing here
// talks to control or touches the node's firewall.
import { parentPort } from 'node:worker_threads';
import { createLogger, setLogLevel } from '../common/log.ts';
import { WeftError, errorCode, type ErrorCode } from '../common/errors.ts';
import { loadAgentConfig, proxyLayout } from './config.ts';
import type { ProxyIo } from './proxy-thread.ts';
import type { WorkloadCertificate } from './identity/tls-contexts.ts';
import { startMemoryReclaim, type ReclaimStats } from './memory-reclaim.ts';
import { listenTransparent } from './native/index.ts';
import { Authorizer } from './policy/authorizer.ts';
import { startProxy } from './proxy/proxy.ts';
import { createSocketFactory } from './proxy/socket-factory.ts';
import { PodDirectory } from './proxy/pod-listeners.ts';
import { ProxyStats } from './proxy/stats.ts';
import { TapBuffer } from './telemetry/tap-buffer.ts';
import { TelemetryRecorder } from './telemetry/recorder.ts';
import { queryRedactor } from './telemetry/redact-query.ts';
import { startWorkerOtel } from './telemetry/worker-otel.ts';
import { noTelemetry } from './telemetry/telemetry.ts';
import { UNKNOWN, workloadName } from './telemetry/labels.ts';
import type { TapEvent } from './telemetry/tap-events.ts';
import { AgentState } from './state/index.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.ts';

/** This worker's reclaims (one isolate per worker thread). */
const workerReclaimStats: ReclaimStats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };
const noTrim = (): boolean => false;

/** Where a proxy worker thread runs: its parent port and its own stdio (piped to the main thread). */
function threadIo(): ProxyIo {
  if (parentPort === null) throw new Error('runWorker needs a worker thread or an inline port');
  return { port: parentPort, stdout: process.stdout, stderr: process.stderr, inline: false };
}

/** Runs one proxy until drained: in a worker thread, or inline on the main thread (proxy-thread.ts). */
export async function runWorker(init: WorkerInit, io: ProxyIo = threadIo()): Promise<void> {
  const { port } = io;
  const post = (m: FromWorker): void => port.postMessage(m);
  const cfg = loadAgentConfig((k) => init.env[k]);
  // Inline, the level and the stack depth are the main thread's own (set once, for everything).
  if (!io.inline) {
    setLogLevel(cfg.logLevel);
    Error.stackTraceLimit = cfg.workerStackTraceLimit;
  }
  const log = createLogger(io.inline ? 'agent.proxy' : `agent.worker${init.index}`, io.stderr);
  const state = new AgentState({ log });
  const stats = new ProxyStats();
  // Policy is compiled and enforced here, next to the connections; a state change re-checks the
  // worker's live inbound connections.
  // weft_policy_denials_total{destination_workload}: every denial the authorizer makes, whatever the path.
  const onDenied = (key: string): void => {
    const w = state.workloadByKey(key);
    recorder?.aggregates.count('policy_denials', w === undefined ? UNKNOWN : workloadName(w));
  };
  const policy = new Authorizer({ view: state, localNode: cfg.nodeName, log: log.child('policy'), outputPath: queryRedactor(cfg.queryValues), onDenied });
  state.onChange((change) => policy.onStateChange(change));
  const tap = new TapBuffer({ flag: init.tapFlag, post: (events) => post({ type: 'tap-events', events: events as TapEvent[] }), onDrop: (n) => recorder?.tapDropped(n) });
  // Spans are recorded here, next to the requests, and exported by each worker on its own.
  // Log records (policy denials and audits, warnings) export even with WEFT_TELEMETRY=false; spans
  // and access records are per-request telemetry and follow it. Drops count once the recorder is up.
  const otel = await startWorkerOtel({
    env: cfg.telemetry ? (k) => process.env[k] : (k) => (k === 'OTEL_TRACES_EXPORTER' ? 'none' : process.env[k]),
    nodeName: cfg.nodeName, log: log.child('otel'), announce: init.index === 0,
    onDrop: (signal, reason, n) => recorder?.otelDropped(signal, reason, n),
  });
  const spans = cfg.telemetry ? otel.spans : undefined;
  const recorder = cfg.telemetry ? new TelemetryRecorder({ tap, accessLog: cfg.accessLog ? (line) => io.stdout.write(line) : undefined, accessRecords: cfg.accessLog ? otel.logs ?? undefined : undefined, spans, queryValues: cfg.queryValues }) : undefined;
  const telemetry = recorder ?? noTelemetry;

  // Certificates: the main thread owns the secret manager; we cache what it sends.
  const certs = new Map<string, WorkloadCertificate>();
  const pending = new Map<number, { resolve: (c: WorkloadCertificate) => void; reject: (e: Error) => void }>();
  let nextReq = 1;
  const certificates = {
    get(identity: string): Promise<WorkloadCertificate> {
      const c = certs.get(identity);
      if (c !== undefined && c.notAfter.getTime() > Date.now()) return Promise.resolve(c);
      const reqId = nextReq++;
      return new Promise<WorkloadCertificate>((resolve, reject) => {
        pending.set(reqId, { resolve, reject });
        post({ type: 'cert-request', reqId, identity });
      });
    },
  };

  let drainResolve: (() => void) | undefined;
  // Pod scope: pod listener syncs wait for the proxy, then run one at a time in arrival order.
  let proxyUp: (p: Awaited<ReturnType<typeof startProxy>> | null) => void = () => {};
  const proxyReady = new Promise<Awaited<ReturnType<typeof startProxy>> | null>((r) => { proxyUp = r; });
  let podSyncs: Promise<void> = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'state':
        if (m.reset) state.applySnapshot(m.version, m.upserts);
        else state.applyDelta(m.version, m.upserts, m.removes);
        break;
      case 'cert': {
        const p = pending.get(m.reqId);
        pending.delete(m.reqId);
        if (p === undefined) break;
        if (m.cert !== undefined) {
          certs.set(m.cert.identity, m.cert);
          p.resolve(m.cert);
        } else {
          p.reject(new WeftError((m.error?.code ?? 'WEFT_ERR_NO_IDENTITY') as ErrorCode, m.error?.message ?? 'no certificate'));
        }
        break;
      }
      case 'cert-rotated':
        certs.set(m.cert.identity, m.cert);
        break;
      case 'stats-request':
        post({ type: 'stats', reqId: m.reqId, stats: stats.toJSON() });
        break;
      case 'policy-stats-request':
        post({ type: 'policy-stats', reqId: m.reqId, stats: { version: state.version, counters: policy.counters.toJSON(), live: policy.liveCount() } });
        break;
      case 'telemetry-request':
        post({ type: 'telemetry', reqId: m.reqId, snapshot: recorder?.aggregates.snapshot() ?? { tcp: [], http: [], counters: [] } });
        break;
      case 'drain':
        drainResolve?.();
        break;
      case 'pods':
        podSyncs = podSyncs.then(async () => {
          const p = await proxyReady;
          const failed = p?.pods === undefined
            ? m.pods.map((pod) => ({ inode: pod.inode, message: 'this worker has no pod listeners (capture scope is not pod)' }))
            : await p.pods.sync(m.pods, m.spec);
          post({ type: 'pods-synced', seq: m.seq, failed });
        });
        break;
    }
  });

  // Node scope: transparent node listeners. Pod scope: plain node listeners (HBONE between agents
  // lands there) plus listeners inside each pod, and deliveries leave from inside the pod.
  const podScope = cfg.captureScope === 'pod' && cfg.redirectMode !== 'none';
  const transparent = cfg.redirectMode !== 'none' && !podScope;
  const directory = podScope ? new PodDirectory(cfg.mark) : undefined;
  let proxy;
  try {
    proxy = await startProxy({
      config: cfg,
      view: state,
      certificates,
      localIdentities: () => state.localWorkloads(cfg.nodeName).map((w) => w.identity),
      sockets: createSocketFactory(transparent ? listenTransparent : undefined, directory),
      stats,
      telemetry,
      log,
      transparent,
      reusePort: true,
      policy,
      limitShares: proxyLayout(cfg).count,
      pods: directory === undefined ? undefined : { directory, lookup: (key) => state.workloadByKey(key) },
    });
  } catch (err) {
    proxyUp(null);
    post({ type: 'listen-failed', code: errorCode(err), message: (err as Error).message });
    return;
  }
  proxyUp(proxy);
  post({ type: 'listening' });
  // A worker's heap is its own isolate: the main thread's reclaim neither sees it nor can collect
  // it, so after a burst a worker kept its grown young generation and old-space pages for good
  // (10 000 idle connections through two workers, closed: RSS stayed ~170 MiB). The worker runs
  // the collection on its own quiet intervals; the trim is the main thread's (malloc_trim covers
  // every thread's arena), hence none here. Inline, the main thread's reclaim is this isolate's.
  const stopReclaim = io.inline ? () => undefined : startMemoryReclaim(cfg.memoryReclaimMs, noTrim, workerReclaimStats);
  await new Promise<void>((resolve) => (drainResolve = resolve));
  stopReclaim();
  await proxy.stopAccepting();
  // Open connections may finish on their own for up to WEFT_DRAIN_MS; close() then cuts the rest.
  const deadline = Date.now() + cfg.drainMs;
  const open = (): number => Object.values(stats.paths).reduce((n, p) => n + p.active, 0);
  while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await proxy.close();
  tap.close();
  // The last spans go out before the worker says it is done, within the second the main thread
  // allows past the drain (a collector that does not answer must not hold the shutdown).
  if (spans !== undefined || otel.logs !== null) {
    const flushed = Promise.all([
      spans?.shutdown().catch((err: unknown) => log.warn('span export shutdown failed', { err })),
      otel.logs?.shutdown().catch((err: unknown) => log.warn('log export shutdown failed', { err })),
    ]);
    await Promise.race([flushed, new Promise((r) => setTimeout(r, 800).unref())]);
  }
  post({ type: 'drained' });
  port.close();
}
