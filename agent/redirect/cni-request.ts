// The CNI relay protocol, pure: what the weft-cni plugin sends (its CNI_* environment as
// KEY=VALUE lines, a blank line, then the plugin's stdin: the network configuration with
// prevResult) and what it prints (status line "OK" or "ERR", then the bytes for its stdout).
// Parsing is here, with table tests; cni-relay.ts moves the bytes.
import { ErrorCodes, WeftError } from '../../common/errors.ts';

export interface CniRequest {
  command: 'ADD' | 'DEL' | 'CHECK';
  containerId: string;
  netns: string;
  ifName: string;
  /** K8S_POD_NAMESPACE/K8S_POD_NAME from CNI_ARGS, as the model's workload key; '' if absent. */
  podKey: string;
  /** IPv4 addresses from prevResult (the IPAM plugin's answer). */
  ips: string[];
  cniVersion: string;
  /** prevResult as given, to hand back as this plugin's result. */
  prevResult: unknown;
}

const MAX_REQUEST = 1 << 20;
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;

function invalid(msg: string): WeftError {
  return new WeftError(ErrorCodes.CNI_RELAY_INVALID, msg);
}

/** Parses one relay request (the whole bytes the plugin sent). */
export function parseCniRequest(raw: Buffer): CniRequest {
  if (raw.length > MAX_REQUEST) throw invalid(`request of ${raw.length} bytes is over the ${MAX_REQUEST} limit`);
  const text = raw.toString('utf8');
  const split = text.indexOf('\n\n');
  if (split < 0) throw invalid('no blank line between the CNI environment and the network configuration');
  const env = new Map<string, string>();
  for (const line of text.slice(0, split).split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw invalid(`environment line without KEY=VALUE: ${JSON.stringify(line.slice(0, 80))}`);
    env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const command = env.get('CNI_COMMAND');
  if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') throw invalid(`CNI_COMMAND ${JSON.stringify(command)} is not ADD, DEL or CHECK`);
  let conf: { cniVersion?: unknown; prevResult?: { ips?: Array<{ address?: unknown }> } };
  try {
    conf = JSON.parse(text.slice(split + 2)) as typeof conf;
  } catch (err) {
    throw invalid(`network configuration is not JSON: ${(err as Error).message}`);
  }
  if (conf === null || typeof conf !== 'object') throw invalid('network configuration is not a JSON object');
  const args = new Map((env.get('CNI_ARGS') ?? '').split(';').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
  const ns = args.get('K8S_POD_NAMESPACE') ?? '';
  const name = args.get('K8S_POD_NAME') ?? '';
  const ips: string[] = [];
  for (const ip of conf.prevResult?.ips ?? []) {
    const addr = typeof ip?.address === 'string' ? ip.address.split('/')[0] : '';
    if (IPV4.test(addr)) ips.push(addr);
  }
  const netns = env.get('CNI_NETNS') ?? '';
  if (command === 'ADD' && netns === '') throw invalid('ADD without CNI_NETNS');
  if (command === 'ADD' && conf.prevResult === undefined) throw invalid('ADD without prevResult: weft-cni must be chained after the plugin that assigns the pod its address');
  return {
    command,
    containerId: env.get('CNI_CONTAINERID') ?? '',
    netns,
    ifName: env.get('CNI_IFNAME') ?? '',
    podKey: ns !== '' && name !== '' ? `${ns}/${name}` : '',
    ips,
    cniVersion: typeof conf.cniVersion === 'string' ? conf.cniVersion : '1.0.0',
    prevResult: conf.prevResult,
  };
}

/** The reply for success: a chained plugin's result is its prevResult (DEL prints nothing). */
export function cniOk(req: CniRequest): string {
  if (req.command === 'DEL') return 'OK\n';
  const prev = req.prevResult !== null && typeof req.prevResult === 'object' ? req.prevResult : {};
  return `OK\n${JSON.stringify({ ...prev, cniVersion: req.cniVersion })}\n`;
}

/** The reply for failure: a CNI error object (code 999: plugin-specific), printed by the plugin. */
export function cniError(cniVersion: string, msg: string, details = ''): string {
  return `ERR\n${JSON.stringify({ cniVersion, code: 999, msg, details })}\n`;
}
