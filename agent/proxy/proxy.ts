// One proxy instance: the outbound (15001) and inbound plaintext (15006) transparent listeners and
// the HBONE server (15008), sharing a tunnel pool. Runs in each worker thread; SO_REUSEPORT lets
// every worker own the same ports and the kernel spreads connections across them.
import net from 'node:net';
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { Logger } from '../../common/log.ts';
import type { AgentConfig } from '../config.ts';
import type { CertificateProvider } from '../identity/tls-contexts.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { HboneConnector, createHboneServer } from './hbone/index.ts';
import { createInboundHboneHandler } from './inbound-hbone.ts';
import { createInboundPlaintextHandler } from './inbound-plaintext.ts';
import { createOutboundHandler } from './outbound.ts';
import { LocalUpstream } from '../http/local-upstream.ts';
import { PeerSessions } from '../http/peer-sessions.ts';
import { Router, type HttpView } from '../http/router.ts';
import { createInboundHttp } from './inbound-http.ts';
import { createOutboundHttp } from './outbound-http.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { ProxyStats } from './stats.ts';
import { WorkloadLimiter, heldBytesBudget } from './workload-limits.ts';
import { NodeListeners } from './agent-listeners.ts';
import { PodListeners, type PodDirectory } from './pod-listeners.ts';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.ts';

export interface ProxyDeps {
  config: AgentConfig;
  /** Routing state (AgentState): services, endpoints, nodes and HTTPRoutes. */
  view: HttpView;
  certificates: CertificateProvider;
  /** SPIFFE IDs of this node's meshed workloads: the only certificates HBONE presents. */
  localIdentities: () => Iterable<string>;
  sockets: SocketFactory;
  stats: ProxyStats;
  /** Metrics, tap and access log; noTelemetry when absent (tests). */
  telemetry?: Telemetry;
  log: Logger;
  /** IP_TRANSPARENT on the capture listeners (false only where nothing is redirected: tests). */
  transparent: boolean;
  reusePort: boolean;
  /** Authorization policy for every delivery to a local workload (HBONE, plaintext, same-node). */
  policy?: InboundAuthorizer;
  /** Proxy instances (worker threads) the per-workload limits are split over; default 1. */
  limitShares?: number;
  /** Pod scope: the directory of captured pods this worker's deliveries leave from (see pod-listeners.ts). */
  pods?: { directory: PodDirectory; lookup: (key: string) => WorkloadRecord | undefined };
}

export interface Proxy {
  /** Pod scope: the listeners this worker holds inside captured pods; undefined in node scope. */
  readonly pods: PodListeners | undefined;
  /** Stops accepting new connections; open ones keep flowing. */
  stopAccepting(): Promise<void>;
  /** Closes everything, giving open tunnels the configured grace. */
  close(): Promise<void>;
}

function closeServer(s: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!s.listening) {
      resolve();
      return;
    }
    s.close(() => resolve());
  });
}

export async function startProxy(deps: ProxyDeps): Promise<Proxy> {
  const { config, log } = deps;
  // Every port this agent accepts on: a pod (or host process) dialling one at a node address is refused.
  const self = new NodeListeners([config.outboundPort, config.inboundPlaintextPort, config.hbonePort, config.adminPort]);
  const common = { view: deps.view, localNode: config.nodeName, connectTimeoutMs: config.connectTimeoutMs, sockets: deps.sockets, stats: deps.stats, telemetry: deps.telemetry ?? noTelemetry, policy: deps.policy, self };
  // Both pools dial peers' 15008 the same way: through the socket factory, bounded by the connect timeout.
  const dialTcp = (host: string, port: number): ReturnType<typeof deps.sockets.connect> => deps.sockets.connect({ ip: host, port }, config.connectTimeoutMs);
  // One held-bytes budget per worker over every codec session keyed by a source identity.
  const held = heldBytesBudget(config.maxHeldBytesPerWorkload, deps.limitShares ?? 1, deps.telemetry ?? noTelemetry, log.child('limits'));
  const tunnels = new HboneConnector({
    heldBytes: held,
    trustDomain: config.trustDomain,
    certificates: deps.certificates,
    connectTimeoutMs: config.connectTimeoutMs,
    closeGraceMs: config.drainMs,
    engine: config.l7H2Engine,
    dialTcp,
    dialTls: (host, port, opts) => deps.sockets.connectTls({ ip: host, port }, config.connectTimeoutMs, opts),
  });
  // L7: one router (balancer, breaker, budgets), one local pool and one peer pool per worker.
  const local = new LocalUpstream({ sockets: deps.sockets, connectTimeoutMs: config.connectTimeoutMs, engine: config.l7H2Engine, counters: deps.stats.l7 });
  const peers = new PeerSessions({
    heldBytes: held,
    trustDomain: config.trustDomain,
    certificates: deps.certificates,
    closeGraceMs: config.drainMs,
    sessionsPerPeer: config.httpPeerSessions,
    engine: config.l7H2Engine,
    dialTcp,
  });
  const router = new Router({
    view: deps.view,
    localNode: config.nodeName,
    balancer: config.httpBalancer,
    counters: deps.stats.l7,
    defaults: { timeoutMs: config.httpTimeoutMs, idleTimeoutMs: config.httpIdleTimeoutMs, retryLimit: config.httpRetryLimit, retryBackoffMs: config.httpRetryBackoffMs },
    budget: { ratio: config.httpRetryBudgetPercent / 100, minPerSecond: config.httpRetryBudgetMinPerSecond },
    telemetry: common.telemetry,
  });
  deps.stats.l7Detail = () => router.snapshot();
  const limit = (kind: 'connections' | 'pending_requests', n: number): WorkloadLimiter =>
    new WorkloadLimiter({ kind, limit: n, shares: deps.limitShares ?? 1, telemetry: common.telemetry, stats: deps.stats, log: log.child('limits') });
  const connectionLimit = limit('connections', config.maxConnectionsPerWorkload);
  const requestLimit = limit('pending_requests', config.maxPendingRequestsPerWorkload);
  const outboundHttp = createOutboundHttp({
    router, local, peers, tunnels, sockets: deps.sockets, h2Engine: config.l7H2Engine, hbonePort: config.hbonePort, connectTimeoutMs: config.connectTimeoutMs,
    detectTimeoutMs: config.detectTimeoutMs, headersTimeoutMs: config.httpHeadersTimeoutMs, pathNormalization: config.pathNormalization, h1Engine: config.l7H1Engine,
    opaquePorts: new Set(config.opaquePorts.split(',').map((p) => Number(p.trim())).filter((p) => Number.isInteger(p) && p > 0)),
    stats: deps.stats, telemetry: common.telemetry, policy: deps.policy, log: log.child('http'), requestLimit,
  });
  const outboundHandler = createOutboundHandler({
    ...common, hbonePort: config.hbonePort, tunnels, log: log.child('outbound'), l7: config.httpEnabled ? outboundHttp.hook : undefined, connectionLimit,
  });
  const inboundHandler = createInboundPlaintextHandler({ ...common, log: log.child('inbound') });
  // Every captured connection is held until it closes, so close() can cut what the drain left
  // (a proxy inline on the main thread has no thread to terminate). One shared listener.
  const live = new Set<net.Socket>();
  function untrack(this: net.Socket): void {
    live.delete(this);
  }
  const track = (s: net.Socket): void => {
    live.add(s);
    // 'close' comes once: `on` spares once()'s wrapper (a closure and a scope per connection).
    s.on('close', untrack);
  };
  const onOutbound: typeof outboundHandler = (s, origin) => { track(s); outboundHandler(s, origin); };
  const onInbound: typeof inboundHandler = (s, origin) => { track(s); inboundHandler(s, origin); };
  const outbound = net.createServer({ pauseOnConnect: false, noDelay: true }, (s) => onOutbound(s));
  const inbound = net.createServer({ noDelay: true }, (s) => onInbound(s));
  // Pod scope: the same handlers behind listeners inside each captured pod, told which pod.
  const pods = deps.pods === undefined ? undefined : new PodListeners({ outbound: onOutbound, inbound: onInbound }, deps.pods.lookup, deps.pods.directory);
  const hbone = createHboneServer({
    heldBytes: held,
    trustDomain: config.trustDomain,
    certificates: deps.certificates,
    localIdentities: deps.localIdentities,
    onStream: createInboundHboneHandler({ ...common, log: log.child('hbone'), headersTimeoutMs: config.httpHeadersTimeoutMs, pathNormalization: config.pathNormalization }),
    // One set of decisions (inbound-http-admit.ts), two movers: node:http2's streams, the codec's.
    ...createInboundHttp({ view: deps.view, localNode: config.nodeName, local, stats: deps.stats, policy: deps.policy, telemetry: common.telemetry, log: log.child('http-in'), pathNormalization: config.pathNormalization }),
    log: log.child('hbone'),
    closeGraceMs: config.drainMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    engine: config.l7H2Engine,
    onRejected: (reason) => common.telemetry.inputRejected(reason),
  });
  const host = config.listenHost;
  const listeners: net.Server[] = [];
  try {
    for (const [server, port, transparent] of [
      [outbound, config.outboundPort, deps.transparent],
      [inbound, config.inboundPlaintextPort, deps.transparent],
      [hbone.server, config.hbonePort, false],
    ] as const) {
      await deps.sockets.listen(server, { host, port, transparent, reusePort: deps.reusePort });
      listeners.push(server);
    }
  } catch (err) {
    self.close();
    await Promise.all(listeners.map(closeServer));
    await tunnels.close();
    local.close();
    throw err;
  }

  return {
    pods,
    async stopAccepting() {
      // net.Server.close stops accepting and resolves once existing connections end; don't wait.
      pods?.stopAccepting();
      outbound.close();
      inbound.close();
      hbone.server.close();
    },
    async close() {
      // Captured connections still open after the drain are cut first, while the redirection
      // is still in place (the main thread removes it next): the client gets its reset from
      // this node. Cut after the rules are gone, its packets would travel to the destination,
      // which knows no such connection and may drop them silently — the client would hang.
      // A worker thread's termination did this implicitly; a proxy inline on the main thread
      // must do it itself.
      for (const s of live) s.destroy();
      live.clear();
      self.close();
      pods?.stopAccepting();
      outbound.close();
      inbound.close();
      outboundHttp.close();
      await Promise.all([hbone.close(), tunnels.close(), peers.close()]);
      local.close();
    },
  };
}
