// Agent configuration: every WEFT_* variable with its default and why. Parsed once at start,
// validated, frozen and logged.
import { availableParallelism } from 'node:os';
import { bool, int, oneOf, parseSettings, str, type Env, type Parsed } from '../common/config.ts';
import { ErrorCodes, WeftError } from '../common/errors.ts';
import { isLoopbackHost, splitHostPort } from '../common/loopback.ts';
import { QUERY_VALUE_MODES } from './telemetry/redact-query.ts';
import { DEFAULT_PATH_NORMALIZATION, PATH_NORMALIZATIONS } from '../common/path-normalize.ts';

export const agentSettings = {
  nodeName: str('WEFT_NODE_NAME', '', 'The Kubernetes node this agent serves; required (the downward API sets it in a cluster).'),
  controlAddress: str('WEFT_CONTROL_ADDRESS', 'weft-control.weft-system.svc:15012', 'host:port of control (TLS: CSR signing and the config stream).'),
  controlSocket: str('WEFT_CONTROL_SOCKET', '', 'A unix socket path to reach control instead of TCP (the sandbox; sockets cross network namespaces).'),
  controlServerName: str('WEFT_CONTROL_SERVER_NAME', 'weft-control.weft-system.svc', 'The DNS name control\'s serving certificate must carry.'),
  controlCaFile: str('WEFT_CONTROL_CA_FILE', '/var/run/weft/ca/ca.crt', 'Trust anchors (PEM) to verify control with; mounted from the trust-anchor ConfigMap.'),
  credentialFile: str('WEFT_CREDENTIAL_FILE', '/var/run/secrets/weft/token', 'The agent\'s credential for control: a projected ServiceAccount token, or a bootstrap token in the sandbox. Re-read on every use so rotation needs no restart.'),
  trustDomain: str('WEFT_TRUST_DOMAIN', 'cluster.local', 'SPIFFE trust domain of workload identities; must match control.'),
  redirectMode: oneOf('WEFT_REDIRECT_MODE', 'iptables', ['iptables', 'ebpf', 'none'] as const, 'How pod traffic reaches the agent: `iptables` (TPROXY), `ebpf` (tc programs with bpf_sk_assign; Linux ≥ 5.7, bpftool and tc on the node) or `none` (the proxy without touching the node; tests).'),
  captureScope: oneOf('WEFT_CAPTURE_SCOPE', 'node', ['node', 'pod'] as const, 'Where pod traffic is captured: `node` (rules in the node\'s namespace, in front of the CNI) or `pod` (in-pod: the agent opens its listeners inside each meshed pod\'s network namespace and captures there, so the node\'s CNI, bridge netfilter and kube-proxy do not matter; needs hostPID or the /run/netns mount, and CAP_SYS_ADMIN). Both work with either redirect mode.'),
  cniSocket: str('WEFT_CNI_SOCKET', '/var/run/weft/cni.sock', 'Pod scope: unix socket where the weft-cni chained plugin reports pods being added and deleted (and waits until a meshed pod is captured); empty disables it.'),
  cniBinDir: str('WEFT_CNI_BIN_DIR', '', 'Pod scope: the host\'s CNI bin dir as mounted (the chart: /host/opt/cni/bin); when set with WEFT_CNI_CONF_DIR the agent installs weft-cni there and chains it into the node\'s conflist at start, and removes both on drain. Empty: installed by other means.'),
  cniConfDir: str('WEFT_CNI_CONF_DIR', '', 'Pod scope: the host\'s CNI configuration dir as mounted (the chart: /host/etc/cni/net.d); see WEFT_CNI_BIN_DIR.'),
  netnsDirs: str('WEFT_NETNS_DIRS', '/run/netns,/var/run/netns', 'Pod scope: comma-separated directories of named network namespaces scanned for meshed pods at start and when a pod\'s namespace is unknown.'),
  netnsNamePrefix: str('WEFT_NETNS_NAME_PREFIX', '', 'Pod scope: only named namespaces whose file name starts with this are scanned (several test nodes sharing one machine); empty: all.'),
  procDir: str('WEFT_PROC_DIR', '/proc', 'Pod scope: the host\'s proc filesystem, scanned for the network namespaces of processes (needs hostPID); empty disables the /proc scan.'),
  cniWaitMs: int('WEFT_CNI_WAIT_MS', 10_000, 'Pod scope: how long a CNI ADD for a pod the model does not know at all waits for it before letting the pod start uncaptured (it is captured as soon as the model learns it). Control sends every scheduled pod before it has an address (pending-workload records), so a pod is known before the runtime makes its sandbox and this wait runs only while control is behind or the agent is not yet synced. Against a control too old to send them the agent does not wait.', 0, 120_000),
  podRescanMs: int('WEFT_POD_RESCAN_MS', 30_000, 'Pod scope: how often namespaces are rescanned to catch vanished pods and retry failed captures; 0: only on changes.', 0, 3_600_000),
  ebpfPinRoot: str('WEFT_EBPF_PIN_ROOT', '/sys/fs/bpf', 'eBPF mode: a mounted BPF filesystem (hostPath) where programs and maps are pinned so a restarted agent adopts them.'),
  ebpfObjectDir: str('WEFT_EBPF_OBJECT_DIR', '', 'eBPF mode: directory with the compiled programs; empty means dist/ebpf next to the agent bundle.'),
  outboundPort: int('WEFT_OUTBOUND_PORT', 15001, 'Transparent listener for meshed pods\' outbound TCP.', 1, 65535),
  inboundPlaintextPort: int('WEFT_INBOUND_PLAINTEXT_PORT', 15006, 'Transparent listener for plaintext sent to meshed pods.', 1, 65535),
  hbonePort: int('WEFT_HBONE_PORT', 15008, 'mTLS HTTP/2 CONNECT tunnel between agents.', 1, 65535),
  adminPort: int('WEFT_ADMIN_PORT', 15020, 'Admin HTTP: /healthz, /ready, /config_dump, /tap, /metrics, /stats. 0 disables the TCP listener.', 0, 65535),
  adminHost: str('WEFT_ADMIN_HOST', '127.0.0.1', 'Admin binds to loopback, always: pods reach node addresses without capture, and admin shows every request (/tap) and the whole config (/config_dump). A non-loopback address is refused (WEFT_ERR_ADMIN_NOT_LOOPBACK); Prometheus scrapes WEFT_METRICS_ADDRESS instead.'),
  metricsAddress: str('WEFT_METRICS_ADDRESS', '', 'host:port of a listener that serves Prometheus text on GET /metrics and nothing else, for a scraper off the node (the chart sets the node IP when its ServiceMonitor is on); empty: none (the admin server\'s /metrics stays, on loopback).'),
  adminSocket: str('WEFT_ADMIN_SOCKET', '/var/run/weft/agent.sock', 'Unix admin socket for the `weft` CLI; empty disables it.'),
  listenHost: str('WEFT_LISTEN_HOST', '0.0.0.0', 'Address the proxy listeners bind (the transparent ones must be the wildcard to see every original destination).'),
  workers: int('WEFT_WORKERS', 0, 'Proxy worker threads; 0 means one per core. Each worker owns SO_REUSEPORT listeners, so the kernel spreads connections.', 0, 256),
  proxyInline: oneOf('WEFT_PROXY_INLINE', 'auto', ['auto', 'always', 'never'] as const, 'Where the proxy runs: `always` — on the main thread, beside the config stream, in the agent\'s one V8 isolate (no worker threads; the least memory); `never` — in WEFT_WORKERS worker threads (each its own isolate); `auto` — inline when there would be one worker (WEFT_WORKERS=1), and with the default WEFT_WORKERS=0 on nodes of up to 2 cores, where one inline proxy used less CPU per request and ~55 MiB less memory than two workers (bench/ab.ts on a 2-core node); an explicit WEFT_WORKERS of 2 or more runs workers. Inline, a large config snapshot is parsed on the thread that moves bytes.'),
  workerYoungGenMb: int('WEFT_WORKER_YOUNG_GEN_MB', 16, 'V8 young generation cap (MiB) of every isolate of the agent: each proxy worker, and the main thread (where the proxy runs inline; the agent re-executes itself once at start with the matching --max-semi-space-size, unless the command line or NODE_OPTIONS sets one). Per-request garbage dies young; a capped young generation keeps resident memory low at the cost of more scavenges (8 cost ~35 % more GC time than 16 for about the same RSS). Uncapped, the main thread\'s grows to 128 MiB under a connection ramp. 0: V8\'s default.', 0, 1024),
  workerOldGenMb: int('WEFT_WORKER_OLD_GEN_MB', 0, 'V8 old generation cap per proxy worker (MiB); 0: V8\'s default. A worker that exceeds it exits and the agent fails, so set it only with headroom.', 0, 16_384),
  memoryReclaimMs: int('WEFT_MEMORY_RECLAIM_MS', 10_000, 'How often memory a busy spell left resident is given back to the kernel (agent/memory-reclaim.ts): after an interval in which the event loop was under 2 % busy (never under load: each is a pause), glibc\'s free pages (malloc_trim, 2-16 ms) and, when the main heap or its external memory has grown by 4 MiB since the last time, a memory-reducing V8 collection (tens of ms). Holding 10 000 idle connections that was 35 MiB of RSS, idle 4-5 MiB. Each proxy worker thread collects its own heap on its own quiet intervals. 0: never.', 0, 3_600_000),
  heapGrowingPercent: int('WEFT_HEAP_GROWING_PERCENT', 50, 'How far V8 lets an old generation grow past its live size before the next full collection, in percent (every heap of the agent: V8\'s --heap-growing-percent). V8 on its own grows small heaps up to 4x, so under steady load each worker carried tens of MiB of garbage; 50 cut the agent\'s resident memory under load by ~40-60 MiB with no request CPU difference measurable on the bench (bench/ab.ts). 0: V8\'s own choice.', 0, 300),
  workerStackTraceLimit: int('WEFT_WORKER_STACK_TRACE_LIMIT', 0, 'Stack frames captured per Error in proxy workers (Error.stackTraceLimit; the main thread keeps V8\'s 10). Node builds an error object on a normal request path (an HTTP/2 stream that closes before its last write completes: once per L7 response at the destination agent), and capturing frames is most of its cost (~1 µs a frame, ~9 µs at 10). Errors keep their code and message; raise this when a stack is needed to debug.', 0, 100),
  certTtlSeconds: int('WEFT_CERT_TTL_SECONDS', 86400, 'Requested workload certificate lifetime; rotated at half of it with jitter.', 60, 30 * 86400),
  connectTimeoutMs: int('WEFT_CONNECT_TIMEOUT_MS', 10_000, 'Upper bound on connecting to a pod or a peer agent; fail fast rather than hold the app.', 100, 120_000),
  drainMs: int('WEFT_DRAIN_MS', 5_000, 'On SIGTERM: readiness goes false, listeners stop, open connections get this long to finish, then the rest are closed and redirection is removed. The chart sets terminationGracePeriodSeconds to this plus a margin.', 0, 600_000),
  logLevel: oneOf('WEFT_LOG_LEVEL', 'info', ['debug', 'info', 'warn', 'error'] as const, 'JSON log verbosity.'),
  mark: int('WEFT_REDIRECT_MARK', 0x539, 'Firewall mark TPROXY sets; policy routing sends marked packets to the local stack.', 1, 0x7fffffff),
  routeTable: int('WEFT_REDIRECT_TABLE', 133, 'Routing table with the local default route for marked packets.', 1, 252),
  detectTimeoutMs: int('WEFT_DETECT_TIMEOUT_MS', 300, 'How long an outbound connection may stay silent before it is carried as opaque TCP (server-first protocols on undeclared ports pay this once per connection).', 10, 60_000),
  opaquePorts: str('WEFT_OPAQUE_PORTS', '', 'Comma-separated destination ports never sniffed for HTTP (agent-wide; Services can add `weft.dev/opaque-ports`).'),
  httpHeadersTimeoutMs: int('WEFT_HTTP_HEADERS_TIMEOUT_MS', 30_000, 'A client must send an HTTP/1 request line and headers within this long (outbound L7 path and the admin server), or it is answered 408 and closed: slowloris cannot hold connections open.', 100, 600_000),
  handshakeTimeoutMs: int('WEFT_HANDSHAKE_TIMEOUT_MS', 10_000, 'An HBONE (15008) peer must finish the TLS handshake within this long, or it is cut off and counted.', 100, 120_000),
  pathNormalization: oneOf('WEFT_PATH_NORMALIZATION', DEFAULT_PATH_NORMALIZATION, PATH_NORMALIZATIONS, 'How request paths are normalised before routing and policy, and forwarded (mesh-wide; the chart sets it from `pathNormalization`): `merge-slashes` (default: RFC 3986 decoding of unreserved escapes, dot segments resolved, slashes merged; encoded slashes, backslashes and NUL refused with 400), `base` (the same without merging slashes), `decode-and-merge-slashes` (also takes %2F, %5C and a backslash as "/"), `none` (raw paths: a DENY on /admin does not see //admin). See docs/policy.md.'),
  httpEnabled: bool('WEFT_HTTP', true, 'Detect HTTP and apply the L7 stages (per-request balancing, retries, timeouts, breaking); false carries everything as TCP.'),
  httpBalancer: oneOf('WEFT_HTTP_BALANCER', 'p2c-peak-ewma', ['p2c-peak-ewma', 'round-robin'] as const, 'Per-request load balancer for Service destinations.'),
  httpTimeoutMs: int('WEFT_HTTP_TIMEOUT_MS', 0, 'Default request timeout where no HTTPRoute or weft.dev/timeout sets one; 0: none (long polls and streams stay usable).', 0, 3_600_000),
  httpIdleTimeoutMs: int('WEFT_HTTP_IDLE_TIMEOUT_MS', 300_000, 'A request with no bytes moving either way for this long is answered 504 (weft-timeout: idle); 0: never.', 0, 3_600_000),
  httpRetryLimit: int('WEFT_HTTP_RETRY_LIMIT', 2, 'Default retries per request on retryable outcomes (connect failure, refused stream, 502/503/504 for idempotent methods, gRPC UNAVAILABLE).', 0, 10),
  httpRetryBackoffMs: int('WEFT_HTTP_RETRY_BACKOFF_MS', 25, 'Base retry backoff, doubled per retry, jittered.', 0, 10_000),
  httpRetryBudgetPercent: int('WEFT_HTTP_RETRY_BUDGET_PERCENT', 20, 'Retries may add at most this percentage of recent requests per Service...', 0, 1000),
  httpRetryBudgetMinPerSecond: int('WEFT_HTTP_RETRY_BUDGET_MIN_PER_SECOND', 10, '...plus this many retries a second, so low-traffic services can still retry.', 0, 100_000),
  l7H2Engine: oneOf('WEFT_L7_H2_ENGINE', 'weft', ['node', 'weft'] as const, 'The HTTP/2 implementation of the agent: on the hop between agents (the L7 client sessions and HBONE tunnels to peer agents, and the HBONE listener, port 15008) and for pods that speak HTTP/2 with prior knowledge (h2c, gRPC: the app\'s own connection on the outbound side, and the h2c sessions to pods on this node). `weft`: the agent\'s own codec, agent/h2 (frames for many streams coalesced into one write per event-loop turn, no per-stream native object, its abuse limits — rapid reset, CONTINUATION floods, HPACK bombs — facing pods directly); `node`: node:http2, the engine before it. Both are correct HTTP/2 peers and interoperate, so agents with either setting share a mesh (rolling upgrades, rolling back).'),
  l7H1Engine: oneOf('WEFT_L7_H1_ENGINE', 'weft', ['node', 'weft'] as const, 'What serves the apps\' HTTP/1.x connections on the outbound L7 path: `weft` (the agent\'s own codec, agent/http1: one object per connection that is both request and response, heads written as raw bytes, stricter than node:http on ambiguous framing — see agent/http1/README.md) or `node` (a node:http server, the engine before it). Per agent; the apps see the same answers except where agent/http1/README.md lists a stricter refusal.'),
  httpPeerSessions: int('WEFT_HTTP_PEER_SESSIONS', 1, 'HTTP/2 sessions per peer agent (and source identity) that each worker spreads L7 requests over, round-robin. The peer\'s workers share its port by SO_REUSEPORT, which pins each session to one of them, so with 1 a peer often serves all of this node\'s requests on one core; 2 or more spread them, at the cost of smaller write batches per session (more CPU per request: on the shared 2-core bench machine 1 did better, see bench/README.md).', 1, 64),
  telemetry: bool('WEFT_TELEMETRY', true, 'Record proxy telemetry: metrics, live tap, access log and request spans. false records none of it (the proxy still passes traceparent headers through unchanged); meant for measuring what telemetry costs, not for production.'),
  accessLog: bool('WEFT_ACCESS_LOG', false, 'One JSON line per proxied connection (and request, with L7) on stdout, and an OpenTelemetry log record each when logs export is configured; off by default because busy nodes make a lot of them.'),
  queryValues: oneOf('WEFT_QUERY_VALUES', 'redacted', QUERY_VALUE_MODES, 'What a request\'s query string shows wherever a path leaves the agent (live tap, access log, policy deny and audit lines): `redacted` keeps parameter names and replaces every value with REDACTED (`/a?token=REDACTED`), as queries carry tokens and signatures; `full` shows them as sent (only where whoever reads the tap and the logs may see those secrets).'),
  tapMaxBufferedBytes: int('WEFT_TAP_MAX_BUFFERED_BYTES', 1 << 20, 'Unsent bytes a live tap consumer may have queued before its events are dropped (and counted): a slow terminal must not grow the agent.', 1024, 64 << 20),
  summaryIntervalMs: int('WEFT_SUMMARY_INTERVAL_MS', 5000, 'How often the agent sends control its golden-metrics summary (cumulative counters, policy denials, certificate expiry) for the dashboard; 0 disables. A few seconds keeps the dashboard live at a few kB per node per send.', 0, 600_000),
  statsWindowSeconds: int('WEFT_STATS_WINDOW_SECONDS', 60, 'Window for the rates, success rates and percentiles of /stats and /top.', 10, 3600),
  maxConnectionsPerWorkload: int('WEFT_MAX_CONNECTIONS_PER_WORKLOAD', 4096, 'Connections one source pod on this node may hold open through the agent at once (all destinations); past it a new connection is reset at once and counted in weft_workload_limited_total{limit="connections"}, so one noisy pod cannot take the node\'s sockets and workers from the others. Each proxy worker enforces its share (the limit divided by WEFT_WORKERS). 0: no limit.', 0, 10_000_000),
  maxPendingRequestsPerWorkload: int('WEFT_MAX_PENDING_REQUESTS_PER_WORKLOAD', 1024, 'HTTP requests one source pod may have in flight through the agent at once; past it a request is answered 503 with weft-error: WEFT_ERR_WORKLOAD_LIMIT (gRPC: UNAVAILABLE) without being forwarded, and counted in weft_workload_limited_total{limit="pending_requests"}. Shared over the workers like the connection limit. 0: no limit.', 0, 10_000_000),
  maxHeldBytesPerWorkload: int('WEFT_MAX_HELD_BYTES_PER_WORKLOAD', 64 << 20, 'Bytes one source workload identity may make the agent hold: HTTP/2 DATA received from a peer (a download, an L7 response, an upload to a local pod) that its reader has not taken yet (a stalled or slow reader). Past it the agent lowers the stream window it announces on that workload\'s sessions to 64 KiB (SETTINGS_INITIAL_WINDOW_SIZE) until its readers drain below half, so stalled streams take no more and fast ones keep flowing; nothing is reset. Without it one workload\'s stalled downloads can hold 4 MiB per stream, ~20 GiB at the connection and request limits. Counted in weft_held_bytes and weft_held_bytes_throttled_total. Shared over the workers like the connection limit; the codec engine only (WEFT_L7_H2_ENGINE=weft). 0: no limit; else at least 1 MiB.', 0, 2 ** 40),
  passthroughUnknownSource: bool('WEFT_PASSTHROUGH_UNKNOWN_SOURCE', true, 'A captured connection from a pod the agent does not know (state lagging) is passed through rather than dropped.'),
};

export type AgentConfig = Parsed<typeof agentSettings>;

/** The least WEFT_MAX_HELD_BYTES_PER_WORKLOAD other than 0: one stream window of the HBONE listener. */
export const MIN_HELD_BYTES = 1 << 20;

export function loadAgentConfig(env: Env): AgentConfig {
  const cfg = parseSettings(agentSettings, env);
  const errors: string[] = [];
  if (cfg.nodeName === '') errors.push('WEFT_NODE_NAME: required (set it from spec.nodeName with the downward API)');
  errors.push(...adminBindProblems(cfg.adminHost));
  const metrics = cfg.metricsAddress === '' ? null : splitHostPort(cfg.metricsAddress);
  if (cfg.metricsAddress !== '' && metrics === null) errors.push(`WEFT_METRICS_ADDRESS: expected host:port, got ${JSON.stringify(cfg.metricsAddress)}`);
  const ports = [cfg.outboundPort, cfg.inboundPlaintextPort, cfg.hbonePort, cfg.adminPort, metrics?.port ?? 0].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) errors.push(`ports must differ: ${ports.join(', ')}`);
  // Under one stream window a single upload to a pod would throttle its workload (agent/h2/held-bytes-budget.ts).
  if (cfg.maxHeldBytesPerWorkload > 0 && cfg.maxHeldBytesPerWorkload < MIN_HELD_BYTES) errors.push(`WEFT_MAX_HELD_BYTES_PER_WORKLOAD: 0 (no limit) or at least ${MIN_HELD_BYTES} (1 MiB), got ${cfg.maxHeldBytesPerWorkload}`);
  if (errors.length > 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${errors.join('\n  ')}`);
  return cfg;
}

/** The admin server (tap, config dump) listens on loopback only: anything else is a config error. */
export function adminBindProblems(adminHost: string): string[] {
  if (isLoopbackHost(adminHost)) return [];
  return [`${ErrorCodes.ADMIN_NOT_LOOPBACK}: WEFT_ADMIN_HOST ${JSON.stringify(adminHost)} is not loopback: pods on the node could read every request (/tap) and the config (/config_dump). Keep 127.0.0.1 (the \`weft\` CLI uses the unix socket) and set WEFT_METRICS_ADDRESS=<node IP>:15090 for Prometheus`];
}

/** WEFT_METRICS_ADDRESS as parts, or null when off. */
export function metricsListen(cfg: AgentConfig): { host: string; port: number } | null {
  return cfg.metricsAddress === '' ? null : splitHostPort(cfg.metricsAddress);
}

export function workerCount(cfg: AgentConfig): number {
  return cfg.workers === 0 ? availableParallelism() : cfg.workers;
}

/**
 * Up to this many cores, `auto` with the default worker count (one per core) runs one proxy inline.
 * Measured on a 2-core machine (bench/ab.ts, HTTP/1.1 through the L7 path, docs/design-notes.md):
 * one inline proxy took less CPU per request than two workers at 1000 req/s, served more in a
 * closed loop (the load generator, the apps and the kernel share those cores, and two workers
 * split each peer's HTTP/2 sessions and write batches), and held ~55 MiB less. Not measured above
 * two cores, so larger nodes keep a worker per core.
 */
export const INLINE_MAX_CORES = 2;

/** How many proxy instances run, and whether the one there is runs inline on the main thread. */
export function proxyLayout(cfg: AgentConfig, cores: number = availableParallelism()): { inline: boolean; count: number } {
  const n = cfg.workers === 0 ? cores : cfg.workers;
  const inline = cfg.proxyInline === 'always'
    || (cfg.proxyInline === 'auto' && (n === 1 || (cfg.workers === 0 && cores <= INLINE_MAX_CORES)));
  return inline ? { inline: true, count: 1 } : { inline: false, count: n };
}

/** V8 heap limits for a proxy worker (worker_threads resourceLimits); unset fields keep V8's. */
export function workerHeapLimits(cfg: AgentConfig): { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number } {
  return {
    ...(cfg.workerYoungGenMb > 0 ? { maxYoungGenerationSizeMb: cfg.workerYoungGenMb } : {}),
    ...(cfg.workerOldGenMb > 0 ? { maxOldGenerationSizeMb: cfg.workerOldGenMb } : {}),
  };
}
