// Control's composition root: trust anchor → CA, discovery source → model store, and one TLS API
// (CSR signing + config stream) served on TCP and/or a unix socket. Every part is found by name
// through its registry, so main.ts only reads config and calls startControl.
import https from 'node:https';
import type http from 'node:http';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCodes } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { CSR_PATH } from './api/csr.ts';
import { createNodeAuthenticator } from './auth/authenticator.ts';
import './auth/bootstrap-tokens.ts';
import './auth/token-review.ts';
import { CaDirWatcher, loadCaDir, trustRecordOf } from './ca/anchor-rotation.ts';
import { ServingCertificate } from './ca/serving-cert.ts';
import { LocalCa, createCsrHandler, loadOrCreateTrustBundle } from './ca/index.ts';
import { dashboardAllowedHosts, type ControlConfig } from './config.ts';
import { createDiscoverySource } from './discovery/index.ts';
import './discovery/kubernetes-source.ts';
import type { ResourceRecord } from './api/model.ts';
import { ModelStore } from './model/index.ts';
import { attachStreamServer, type StreamServer } from './stream/index.ts';
import { MetricsStore } from './metrics/metrics-store.ts';
import { startDashboard, type Dashboard } from './dashboard/dashboard-server.ts';
import { Rejections } from './metrics/rejections.ts';
import { answerClientError, headerTimeoutOptions } from '../common/http-client-error.ts';
import { errorCode } from '../common/errors.ts';
import { otelAnyExport } from '../common/otel/export-enabled.ts';
import { AGENT_VERSION } from '../agent/version.ts';
import { ControlTelemetry, renderControlPrometheus } from './metrics/control-telemetry.ts';
import type { ControlOtel } from './metrics/control-otel.ts';

export interface ControlApp {
  /** The bound TCP port (useful when configured as :0), or null without a TCP listener. */
  readonly port: number | null;
  readonly store: ModelStore;
  readonly ca: LocalCa;
  /** PEM of every trust anchor: what agents need to verify control and each other. */
  readonly trustAnchorsPem: string[];
  /** Agents' traffic summaries (the dashboard's data). */
  readonly metrics: MetricsStore;
  /** The dashboard's URL, or null when WEFT_DASHBOARD_ADDRESS is empty. */
  readonly dashboardUrl: string | null;
  /** Bad input refused so far (GET /metrics on the API port). */
  readonly rejections: Rejections;
  /** Control's own metrics (GET /metrics on the API port, OTLP when configured). */
  readonly telemetry: ControlTelemetry;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startControl(cfg: ControlConfig, log: Logger): Promise<ControlApp> {
  const { created } = await loadOrCreateTrustBundle(cfg.caDir);
  // Read again with trust-bundle.crt: extra anchors of a rotation in progress.
  const bundle = await loadCaDir(cfg.caDir);
  log.info(created ? 'generated a new trust anchor' : 'loaded the trust anchor', { dir: cfg.caDir, anchors: bundle.anchorsPem.length });
  const ca = new LocalCa({ bundle, trustDomain: cfg.trustDomain, defaultTtlSeconds: cfg.certTtlSeconds, maxTtlSeconds: cfg.certMaxTtlSeconds });
  const serverNames = cfg.serverNames.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const servers: https.Server[] = [];
  const servingCert = new ServingCertificate({
    issue: () => ca.issueServerCert(serverNames),
    onRenew: (cert) => {
      for (const s of servers) s.setSecureContext({ ...tlsOptions, key: cert.keyPem, cert: cert.certChain.join('\n') });
    },
    log: log.child('serving-cert'),
  });
  const serving = await servingCert.start();

  // The model is the source's records plus one `trust` record, so anchor changes ride the same
  // stream (and the same snapshot/delta machinery) as everything else.
  const store = new ModelStore({ log: log.child('model') });
  let sourceRecords: readonly ResourceRecord[] = [];
  let trust = trustRecordOf(bundle);
  const publish = (): void => void store.replaceAll([...sourceRecords, trust]);
  const source = createDiscoverySource(cfg.discovery, { trustDomain: cfg.trustDomain, pathNormalization: cfg.pathNormalization, log: log.child('discovery'), options: { path: cfg.sourcePath, kubeconfig: cfg.kubeconfig } });
  await source.start((records) => {
    sourceRecords = records;
    publish();
  });
  const anchors = new CaDirWatcher({
    dir: cfg.caDir,
    intervalMs: cfg.caReloadMs,
    log: log.child('ca'),
    onChange(next) {
      const signerChanged = trustRecordOf(next).signing !== trust.signing;
      ca.setBundle(next);
      trust = trustRecordOf(next);
      // Agents will drop the old anchor at the rotation's last step; control's own certificate must not depend on it.
      if (signerChanged) void servingCert.renew('the signing anchor changed');
      log.info('trust anchors changed', { signing: trust.signing, anchors: trust.anchors.length, version: trust.version });
      publish();
    },
  });
  await anchors.start();

  const authenticator = await createNodeAuthenticator(cfg.authenticator, {
    file: cfg.bootstrapTokensFile,
    kubeconfig: cfg.kubeconfig,
    audience: cfg.tokenAudience,
    agentServiceAccount: cfg.agentServiceAccount,
    // The agent pod's node, as the model knows it (hostNetwork pods are in it, unmeshed).
    pods: (namespace: string, name: string) => {
      const w = store.get(`workload:${namespace}/${name}`);
      return w?.kind === 'workload' ? { uid: w.uid, node: w.node } : undefined;
    },
  });
  const rejections = new Rejections();
  const csr = createCsrHandler({
    onRejected: (reason) => rejections.count(reason),
    ca,
    authenticator: { authenticate: async (credential) => (await authenticator.authenticate(credential)).node },
    identitiesOnNode: (node) => store.identitiesOnNode(node),
    logger: log.child('csr'),
  });

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === CSR_PATH) {
      const started = Date.now();
      csr(req, res).catch((err: unknown) => {
        log.error('CSR handler failed', { err });
        if (!res.headersSent) sendJson(res, 500, { code: ErrorCodes.CA_UNAVAILABLE, message: 'internal error while signing' });
      }).finally(() => telemetry.csr(res.statusCode, null, started, Date.now()));
    } else if (path === '/healthz' && req.method === 'GET') {
      sendJson(res, 200, { status: 'ok', version: store.snapshot().version });
    } else if (path === '/metrics' && req.method === 'GET') {
      const text = rejections.render() + renderControlPrometheus(telemetry.families()) + (source.metrics?.() ?? '');
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    } else {
      rejections.count('api_route');
      sendJson(res, 404, { code: ErrorCodes.HTTP_ROUTE, message: `no route ${req.method ?? ''} ${path}` });
    }
  };

  const timeout = cfg.headersTimeoutMs;
  const tlsOptions: https.ServerOptions = {
    key: serving.keyPem,
    cert: serving.certChain.join('\n'),
    minVersion: 'TLSv1.3',
    // Slowloris bounds: the handshake, then the request line and headers (a CSR body is small).
    handshakeTimeout: timeout,
    requestTimeout: timeout * 2,
    ...headerTimeoutOptions(timeout),
  };
  const streams: StreamServer[] = [];
  const metrics = new MetricsStore({ windowMs: cfg.metricsWindowSeconds * 1000 });
  let dashboard: Dashboard | null = null;
  let port: number | null = null;
  // The Kubernetes source reports its informers (lists, watch restarts, last watch error); the file source has none.
  const informers = (source as { status?: () => Array<{ kind: string; lists: number; watchRestarts: number; lastError: string | null }> }).status?.bind(source);
  let otel: ControlOtel | null = null;
  const telemetry = new ControlTelemetry({
    agents: () => streams.flatMap((s) => s.agents()),
    discovery: () => informers?.() ?? [],
    dashboardConnections: () => dashboard?.connections() ?? 0,
    rejections: () => rejections.entries(),
  });

  async function serve(listen: (s: https.Server, cb: () => void) => void): Promise<https.Server> {
    const server = https.createServer(tlsOptions, onRequest);
    server.on('clientError', (err: Error, socket) => {
      const kind = answerClientError(err, socket);
      if (kind !== null) rejections.count(`api_${kind}`);
    });
    server.on('tlsClientError', (err: Error) => {
      rejections.count(errorCode(err) === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'api_handshake_timeout' : 'api_tls_handshake');
    });
    streams.push(attachStreamServer(server, {
      onRejected: (reason) => rejections.count(reason),
      store,
      authenticator,
      log: log.child('stream'),
      onObservability(session, msg) {
        const node = session.node;
        if (node === null) return;
        if (msg.type === 'summary') metrics.ingest(node, msg);
        else dashboard?.tap.deliver(node, msg);
      },
      onStreaming: (session) => dashboard?.tap.agentStreaming(session),
      onSnapshotBuilt: (b) => telemetry.snapshotBuilt(b.version, b.records, b.frames, b.startMs, b.endMs),
    }));
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listen(server, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  try {
    if (cfg.listenAddress !== '') {
      const i = cfg.listenAddress.lastIndexOf(':');
      const host = cfg.listenAddress.slice(0, i) || '0.0.0.0';
      const s = await serve((srv, cb) => srv.listen(Number(cfg.listenAddress.slice(i + 1)), host, cb));
      const addr = s.address();
      port = typeof addr === 'object' && addr !== null ? addr.port : null;
      log.info('listening', { address: `${host}:${port}` });
    }
    if (cfg.listenSocket !== '') {
      await mkdir(dirname(cfg.listenSocket), { recursive: true });
      await unlink(cfg.listenSocket).catch(() => undefined);
      await serve((srv, cb) => srv.listen(cfg.listenSocket, cb));
      // Agents run as root in their node namespaces; nobody else needs the socket.
      await chmod(cfg.listenSocket, 0o660);
      log.info('listening', { socket: cfg.listenSocket });
    }
    if (cfg.dashboardAddress !== '') {
      dashboard = await startDashboard({
        address: cfg.dashboardAddress,
        token: cfg.dashboardToken,
        allowedHosts: dashboardAllowedHosts(cfg),
        store,
        metrics,
        agents: () => streams.flatMap((s) => s.sessions()),
        log,
        headersTimeoutMs: timeout,
        onRejected: (reason) => rejections.count(reason),
      });
    }
    // The OpenTelemetry SDK loads only when a signal's export is configured.
    if (otelAnyExport((k) => process.env[k])) {
      try {
        const { startControlOtel } = await import('./metrics/control-otel.ts');
        otel = await startControlOtel({
          env: (k) => process.env[k], telemetry, log: log.child('otel'),
          resource: { 'service.name': 'weft-control', 'service.version': AGENT_VERSION },
          onDrop: (signal, reason, n) => telemetry.otelDropped(signal, reason, n),
        });
      } catch (err) {
        log.error('OpenTelemetry export could not start; metrics stay on /metrics', { err });
      }
    }
  } catch (err) {
    anchors.stop();
    servingCert.stop();
    await Promise.all(streams.map((s) => s.close()));
    await source.stop();
    for (const s of servers) s.close();
    throw err;
  }

  return {
    port,
    store,
    ca,
    metrics,
    rejections,
    telemetry,
    dashboardUrl: dashboard?.url ?? null,
    get trustAnchorsPem() {
      return [...ca.trustAnchors];
    },
    async close() {
      await dashboard?.close();
      anchors.stop();
      servingCert.stop();
      await source.stop();
      await Promise.all(streams.map((s) => s.close()));
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
      if (cfg.listenSocket !== '') await unlink(cfg.listenSocket).catch(() => undefined);
      // Last: the final counts and the shutdown's own log lines reach the collector (bounded).
      if (otel !== null) await Promise.race([otel.shutdown().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    },
  };
}
