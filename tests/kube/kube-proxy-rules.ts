// Reads kube-proxy's iptables-mode NAT rules back from `iptables-save -t nat`: for each
// ClusterIP:port in KUBE-SERVICES, the service it names and the endpoints its KUBE-SEP chains
// DNAT to. Tests use it to know kube-proxy has programmed a Service before they send traffic, and
// to show the path a ClusterIP packet takes, from kube-proxy's own rules rather than our model.

export interface KubeProxyService {
  /** "namespace/name:port-name", from the rule's comment. */
  service: string;
  /** The KUBE-SVC-* chain KUBE-SERVICES jumps to. */
  chain: string;
  /** "ip:port" of each DNAT target, sorted. */
  endpoints: string[];
  /** KUBE-SEP-* chain per endpoint (same order). */
  endpointChains: string[];
}

function arg(line: string, flag: string): string | undefined {
  const m = new RegExp(`(?:^| )${flag} (\\S+)`).exec(line);
  return m?.[1];
}

function comment(line: string): string {
  const m = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line);
  return m === null ? '' : (m[1] ?? m[2]);
}

/** ClusterIP:port → what kube-proxy does with it. Only TCP/UDP ClusterIP entries are read. */
export function parseKubeProxyNat(save: string): Map<string, KubeProxyService> {
  const rules = new Map<string, string[]>();
  let inNat = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) { inNat = line === '*nat'; continue; }
    if (!inNat || !line.startsWith('-A ')) continue;
    const chain = line.slice(3, line.indexOf(' ', 3));
    const list = rules.get(chain) ?? [];
    list.push(line);
    rules.set(chain, list);
  }
  const dnat = (sep: string): string | undefined => {
    for (const l of rules.get(sep) ?? []) {
      if (arg(l, '-j') === 'DNAT') return arg(l, '--to-destination');
    }
    return undefined;
  };
  const out = new Map<string, KubeProxyService>();
  for (const l of rules.get('KUBE-SERVICES') ?? []) {
    const target = arg(l, '-j');
    const dst = arg(l, '-d');
    const port = arg(l, '--dport');
    if (target === undefined || !target.startsWith('KUBE-SVC-') || dst === undefined || port === undefined) continue;
    const text = comment(l);
    const seps = (rules.get(target) ?? []).map((r) => arg(r, '-j')).filter((j): j is string => j !== undefined && j.startsWith('KUBE-SEP-'));
    const pairs = seps.map((s) => [dnat(s) ?? '?', s] as const).sort((a, b) => a[0].localeCompare(b[0]));
    out.set(`${dst.replace(/\/32$/, '')}:${port}`, {
      service: text.replace(/ cluster IP$/, ''),
      chain: target,
      endpoints: pairs.map((p) => p[0]),
      endpointChains: pairs.map((p) => p[1]),
    });
  }
  return out;
}

/** Packet count of the DNAT rule in a KUBE-SEP chain, from `iptables-save -c -t nat`. */
export function sepPackets(saveWithCounters: string, sepChain: string): number {
  for (const line of saveWithCounters.split('\n')) {
    const m = /^\[(\d+):\d+\] -A (\S+) .*-j DNAT /.exec(line);
    if (m !== null && m[2] === sepChain) return Number(m[1]);
  }
  return 0;
}
