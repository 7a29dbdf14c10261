// Control configuration: every WEFT_* variable with its default and why.
import { int, oneOf, parseSettings, str, type Env, type Parsed } from '../common/config.ts';
import { ErrorCodes, WeftError } from '../common/errors.ts';

export const controlSettings = {
  trustDomain: str('WEFT_TRUST_DOMAIN', 'cluster.local', 'SPIFFE trust domain of every workload identity.'),
  caDir: str('WEFT_CA_DIR', '/var/run/weft/ca', 'Trust anchor (ca.crt, ca.key): loaded if present, generated and written there if not. In a cluster it is a mounted Secret.'),
  listenAddress: str('WEFT_LISTEN_ADDRESS', '0.0.0.0:15012', 'TLS listener for CSRs and the config stream; empty disables TCP.'),
  listenSocket: str('WEFT_LISTEN_SOCKET', '', 'Also serve the same TLS API on this unix socket (the sandbox: agents in other network namespaces reach it).'),
  serverNames: str('WEFT_SERVER_NAMES', 'weft-control.weft-system.svc,localhost', 'DNS names in control\'s own serving certificate, comma-separated.'),
  discovery: oneOf('WEFT_DISCOVERY', 'file', ['file'] as const, 'Where the cluster model comes from: `file` (Kubernetes-shaped YAML).'),
  sourcePath: str('WEFT_SOURCE_PATH', '', 'For the file source: a YAML file or a directory of them; reloaded on change.'),
  authenticator: oneOf('WEFT_AUTHENTICATOR', 'bootstrap-token', ['bootstrap-token'] as const, 'How agents prove their node.'),
  bootstrapTokensFile: str('WEFT_BOOTSTRAP_TOKENS_FILE', '', 'For bootstrap-token: lines of "<node> <token>".'),
  certTtlSeconds: int('WEFT_CERT_TTL_SECONDS', 86400, 'Default workload certificate lifetime (24 h): short enough that a stolen key ages out, long enough to ride out a control outage.', 60, 30 * 86400),
  certMaxTtlSeconds: int('WEFT_CERT_MAX_TTL_SECONDS', 7 * 86400, 'Longest lifetime an agent may ask for.', 60, 365 * 86400),
  logLevel: oneOf('WEFT_LOG_LEVEL', 'info', ['debug', 'info', 'warn', 'error'] as const, 'JSON log verbosity.'),
};

export type ControlConfig = Parsed<typeof controlSettings>;

export function loadControlConfig(env: Env): ControlConfig {
  const cfg = parseSettings(controlSettings, env);
  const errors: string[] = [];
  if (cfg.discovery === 'file' && cfg.sourcePath === '') errors.push('WEFT_SOURCE_PATH: required with WEFT_DISCOVERY=file');
  if (cfg.authenticator === 'bootstrap-token' && cfg.bootstrapTokensFile === '') errors.push('WEFT_BOOTSTRAP_TOKENS_FILE: required with WEFT_AUTHENTICATOR=bootstrap-token');
  if (cfg.listenAddress === '' && cfg.listenSocket === '') errors.push('WEFT_LISTEN_ADDRESS / WEFT_LISTEN_SOCKET: at least one listener is needed');
  if (cfg.listenAddress !== '' && !/^[^:]*:\d+$/.test(cfg.listenAddress)) errors.push(`WEFT_LISTEN_ADDRESS: expected host:port, got ${JSON.stringify(cfg.listenAddress)}`);
  if (cfg.certTtlSeconds > cfg.certMaxTtlSeconds) errors.push('WEFT_CERT_TTL_SECONDS: larger than WEFT_CERT_MAX_TTL_SECONDS');
  if (errors.length > 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${errors.join('\n  ')}`);
  return cfg;
}
