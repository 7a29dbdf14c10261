// One proxy instance: the outbound (15001) and inbound plaintext (15006) transparent listeners and
// the HBONE server (15008), sharing a tunnel pool. Runs in each worker thread; SO_REUSEPORT lets
// every worker own the same ports and the kernel spreads connections across them.
import net from 'node:net';
import type { Logger } from '../../common/log.ts';
import type { AgentConfig } from '../config.ts';
import type { CertificateProvider } from '../identity/tls-contexts.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { HboneConnector, createHboneServer } from './hbone/index.ts';
import { createInboundHboneHandler } from './inbound-hbone.ts';
import { createInboundPlaintextHandler } from './inbound-plaintext.ts';
import { createOutboundHandler } from './outbound.ts';
import type { RoutingView } from './routing-view.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { ProxyStats } from './stats.ts';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.ts';

export interface ProxyDeps {
  config: AgentConfig;
  view: RoutingView;
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
}

export interface Proxy {
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
  const common = { view: deps.view, localNode: config.nodeName, connectTimeoutMs: config.connectTimeoutMs, sockets: deps.sockets, stats: deps.stats, telemetry: deps.telemetry ?? noTelemetry, policy: deps.policy };
  const tunnels = new HboneConnector({
    trustDomain: config.trustDomain,
    certificates: deps.certificates,
    connectTimeoutMs: config.connectTimeoutMs,
    closeGraceMs: config.drainMs,
    dialTcp: (host, port) => deps.sockets.connect({ ip: host, port }, config.connectTimeoutMs),
  });
  const outbound = net.createServer({ pauseOnConnect: false, noDelay: true }, createOutboundHandler({ ...common, hbonePort: config.hbonePort, tunnels, log: log.child('outbound') }));
  const inbound = net.createServer({ noDelay: true }, createInboundPlaintextHandler({ ...common, log: log.child('inbound') }));
  const hbone = createHboneServer({
    trustDomain: config.trustDomain,
    certificates: deps.certificates,
    localIdentities: deps.localIdentities,
    onStream: createInboundHboneHandler({ ...common, log: log.child('hbone') }),
    log: log.child('hbone'),
    closeGraceMs: config.drainMs,
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
    await Promise.all(listeners.map(closeServer));
    await tunnels.close();
    throw err;
  }

  return {
    async stopAccepting() {
      // net.Server.close stops accepting and resolves once existing connections end; don't wait.
      outbound.close();
      inbound.close();
      hbone.server.close();
    },
    async close() {
      outbound.close();
      inbound.close();
      await Promise.all([hbone.close(), tunnels.close()]);
    },
  };
}
