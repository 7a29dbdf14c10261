// Control configuration: every WEFT_* variable with its default and why.
import { int, oneOf, parseSettings, str, type Env, type Parsed } from '../common/config.ts';
import { ErrorCodes, WeftError, isWeftError } from '../common/errors.ts';
import { checkDashboardBind } from './dashboard/bind-check.ts';
import { DEFAULT_PATH_NORMALIZATION, PATH_NORMALIZATIONS } from '../common/path-normalize.ts';
import { hostName } from '../common/site-check.ts';

export const controlSettings = {
  trustDomain: str('WEFT_TRUST_DOMAIN', 'cluster.local', 'SPIFFE trust domain of every workload identity.'),
  pathNormalization: oneOf('WEFT_PATH_NORMALIZATION', DEFAULT_PATH_NORMALIZATION, PATH_NORMALIZATIONS, 'The mesh\'s path normalisation (the agents apply it to requests; the chart sets both from `pathNormalization`). Control checks AuthorizationPolicy paths against it: a rule path the agents would never see ("//", a dot segment, "%61" where requests are normalised) is refused with the form to write.'),
  caDir: str('WEFT_CA_DIR', '/var/run/weft/ca', 'Trust anchor (ca.crt, ca.key, optional trust-bundle.crt of further anchors): loaded if present, generated and written there if not. In a cluster it is a mounted Secret. Re-read on change: that is how a root is rotated.'),
  caReloadMs: int('WEFT_CA_RELOAD_MS', 2000, 'How often the CA directory is checked for rotated anchors; a Secret update reaches the pod within a minute anyway, so a few seconds adds little.', 100, 3_600_000),
  listenAddress: str('WEFT_LISTEN_ADDRESS', '0.0.0.0:15012', 'TLS listener for CSRs and the config stream; empty disables TCP.'),
  listenSocket: str('WEFT_LISTEN_SOCKET', '', 'Also serve the same TLS API on this unix socket (the sandbox: agents in other network namespaces reach it).'),
  serverNames: str('WEFT_SERVER_NAMES', 'weft-control.weft-system.svc,localhost', 'DNS names in control\'s own serving certificate, comma-separated.'),
  discovery: oneOf('WEFT_DISCOVERY', 'file', ['file', 'kubernetes'] as const, 'Where the cluster model comes from: `file` (Kubernetes-shaped YAML) or `kubernetes` (informers on the API server).'),
  kubeconfig: str('WEFT_KUBECONFIG', '', 'For the kubernetes source and token-review: a kubeconfig file; empty means the in-cluster ServiceAccount (what a Deployment uses).'),
  sourcePath: str('WEFT_SOURCE_PATH', '', 'For the file source: a YAML file or a directory of them; reloaded on change.'),
  authenticator: oneOf('WEFT_AUTHENTICATOR', 'bootstrap-token', ['bootstrap-token', 'token-review'] as const, 'How agents prove their node: `bootstrap-token` (sandbox) or `token-review` (projected ServiceAccount tokens checked with the TokenReview API).'),
  tokenAudience: str('WEFT_TOKEN_AUDIENCE', 'weft-control', 'For token-review: the audience agents\' projected tokens carry; a dedicated one so tokens meant for anything else are refused.'),
  agentServiceAccount: str('WEFT_AGENT_SERVICE_ACCOUNT', 'weft-system/weft-agent', 'For token-review: namespace/name of the agents\' ServiceAccount; tokens of any other account are refused.'),
  bootstrapTokensFile: str('WEFT_BOOTSTRAP_TOKENS_FILE', '', 'For bootstrap-token: lines of "<node> <token>".'),
  certTtlSeconds: int('WEFT_CERT_TTL_SECONDS', 86400, 'Default workload certificate lifetime (24 h): short enough that a stolen key ages out, long enough to ride out a control outage.', 60, 30 * 86400),
  certMaxTtlSeconds: int('WEFT_CERT_MAX_TTL_SECONDS', 7 * 86400, 'Longest lifetime an agent may ask for.', 60, 365 * 86400),
  dashboardAddress: str('WEFT_DASHBOARD_ADDRESS', '127.0.0.1:8084', 'The read-only browser dashboard (golden metrics, topology, live tap, policies), host:port; empty disables. Loopback by default: reach it with kubectl port-forward. Any other address needs WEFT_DASHBOARD_TOKEN.'),
  dashboardToken: str('WEFT_DASHBOARD_TOKEN', '', 'Bearer token the dashboard requires (header or ?token=); required when WEFT_DASHBOARD_ADDRESS is not loopback. Never logged.'),
  dashboardAllowedHosts: str('WEFT_DASHBOARD_ALLOWED_HOSTS', '', 'Comma-separated host names (or host:port) the dashboard answers to besides loopback names and its bind address, e.g. the name of an ingress in front of it. Any other Host header is refused (403 WEFT_ERR_DASHBOARD_HOST), which stops DNS rebinding; API calls and the live tap must also come from the dashboard\'s own origin.'),
  headersTimeoutMs: int('WEFT_HEADERS_TIMEOUT_MS', 30_000, 'A client of the API port or the dashboard must send its request line and headers within this long (and finish a TLS handshake on the API port), or it is cut off and counted: slowloris cannot hold control\'s sockets.', 100, 600_000),
  metricsWindowSeconds: int('WEFT_METRICS_WINDOW_SECONDS', 900, 'How much recent traffic (agents\' summaries) control keeps in memory for the dashboard: 15 minutes of per-edge counters in 5 s buckets.', 60, 3600),
  logLevel: oneOf('WEFT_LOG_LEVEL', 'info', ['debug', 'info', 'warn', 'error'] as const, 'JSON log verbosity.'),
};

export type ControlConfig = Parsed<typeof controlSettings>;

/** WEFT_DASHBOARD_ALLOWED_HOSTS as a list. */
export function dashboardAllowedHosts(cfg: ControlConfig): string[] {
  return cfg.dashboardAllowedHosts.split(',').map((h) => h.trim()).filter((h) => h !== '');
}

export function loadControlConfig(env: Env): ControlConfig {
  const cfg = parseSettings(controlSettings, env);
  const errors: string[] = [];
  if (cfg.discovery === 'file' && cfg.sourcePath === '') errors.push('WEFT_SOURCE_PATH: required with WEFT_DISCOVERY=file');
  if (cfg.authenticator === 'token-review' && !/^[^/]+\/[^/]+$/.test(cfg.agentServiceAccount)) errors.push(`WEFT_AGENT_SERVICE_ACCOUNT: expected namespace/name, got ${JSON.stringify(cfg.agentServiceAccount)}`);
  if (cfg.authenticator === 'bootstrap-token' && cfg.bootstrapTokensFile === '') errors.push('WEFT_BOOTSTRAP_TOKENS_FILE: required with WEFT_AUTHENTICATOR=bootstrap-token');
  if (cfg.listenAddress === '' && cfg.listenSocket === '') errors.push('WEFT_LISTEN_ADDRESS / WEFT_LISTEN_SOCKET: at least one listener is needed');
  if (cfg.listenAddress !== '' && !/^[^:]*:\d+$/.test(cfg.listenAddress)) errors.push(`WEFT_LISTEN_ADDRESS: expected host:port, got ${JSON.stringify(cfg.listenAddress)}`);
  if (cfg.dashboardAddress !== '') {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):\d+$/.test(cfg.dashboardAddress)) errors.push(`WEFT_DASHBOARD_ADDRESS: expected host:port, got ${JSON.stringify(cfg.dashboardAddress)}`);
    else {
      try {
        checkDashboardBind(cfg.dashboardAddress, cfg.dashboardToken);
      } catch (err) {
        if (!isWeftError(err)) throw err;
        errors.push(`${err.code}: ${err.message}`);
      }
    }
  }
  for (const h of dashboardAllowedHosts(cfg)) {
    if (hostName(h) === null) errors.push(`WEFT_DASHBOARD_ALLOWED_HOSTS: ${JSON.stringify(h)} is not a host name or host:port`);
  }
  if (cfg.certTtlSeconds > cfg.certMaxTtlSeconds) errors.push('WEFT_CERT_TTL_SECONDS: larger than WEFT_CERT_MAX_TTL_SECONDS');
  if (errors.length > 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${errors.join('\n  ')}`);
  return cfg;
}
