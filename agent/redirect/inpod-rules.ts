// The in-pod iptables capture as pure functions: the nat-table state read back from
// `iptables-save -t nat` inside a pod's namespace, and the `iptables-restore --noflush` batch that
// installs or removes it in one commit. Free of I/O so tests check every batch byte for byte.
//
// Inside the pod (nat table; NAT decides on a connection's first packet only):
//   OUTPUT     → WEFT-INPOD-OUT: the agent's marked sockets, loopback and excluded ports RETURN;
//                other TCP → REDIRECT to the outbound listener (127.0.0.1:15001)
//   PREROUTING → WEFT-INPOD-IN:  loopback and the HBONE port RETURN;
//                other TCP → REDIRECT to the inbound plaintext listener (pod-ip:15006)
// The listeners read the original destination back with SO_ORIGINAL_DST.
import type { PodCaptureOptions } from './pod-capture.ts';

export const INPOD_CHAIN = { out: 'WEFT-INPOD-OUT', in: 'WEFT-INPOD-IN' } as const;
const CHAINS = [INPOD_CHAIN.out, INPOD_CHAIN.in] as const;
export const INPOD_COMMENT = 'weft-inpod';
const MULTIPORT_MAX = 15;

export interface InpodNatState {
  /** WEFT-INPOD-* chains declared in the nat table. */
  chains: Set<string>;
  /** OUTPUT/PREROUTING lines jumping to them (normally one each). */
  jumps: string[];
  /** Rule lines inside WEFT-INPOD-* chains, as printed. */
  rules: string[];
}

/** Reads the parts of `iptables-save -t nat` output that belong to in-pod capture. */
export function parseInpodNat(save: string): InpodNatState {
  const state: InpodNatState = { chains: new Set(), jumps: [], rules: [] };
  let inNat = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) { inNat = line === '*nat'; continue; }
    if (!inNat) continue;
    const decl = /^:(WEFT-INPOD-[A-Z]+) /.exec(line);
    if (decl) { state.chains.add(decl[1]); continue; }
    if (/^-A (OUTPUT|PREROUTING) /.test(line) && / -j WEFT-INPOD-(OUT|IN)( |$)/.test(line)) { state.jumps.push(line); continue; }
    if (/^-A WEFT-INPOD-(OUT|IN) /.test(line)) state.rules.push(line);
  }
  return state;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The capture's rules (without chain declarations and jumps), in order. */
export function inpodRules(o: PodCaptureOptions): string[] {
  const rules = [
    // The agent's own sockets in the pod (delivery to the app) are never captured.
    `-A ${INPOD_CHAIN.out} -m mark --mark ${hex(o.mark)}/${hex(o.mark)} -j RETURN`,
    // The pod talking to itself (127/8 or its own address: both leave through lo).
    `-A ${INPOD_CHAIN.out} -o lo -j RETURN`,
  ];
  const ports = [...new Set(o.excludeOutboundPorts)].sort((a, b) => a - b);
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    rules.push(`-A ${INPOD_CHAIN.out} -p tcp -m multiport --dports ${ports.slice(i, i + MULTIPORT_MAX).join(',')} -j RETURN`);
  }
  rules.push(
    `-A ${INPOD_CHAIN.out} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
    `-A ${INPOD_CHAIN.in} -i lo -j RETURN`,
    `-A ${INPOD_CHAIN.in} -p tcp -m tcp --dport ${o.hbonePort} -j RETURN`,
    `-A ${INPOD_CHAIN.in} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`,
  );
  return rules;
}

function jumps(): string[] {
  return [
    `-A OUTPUT -p tcp -m comment --comment ${INPOD_COMMENT} -j ${INPOD_CHAIN.out}`,
    `-A PREROUTING -p tcp -m comment --comment ${INPOD_COMMENT} -j ${INPOD_CHAIN.in}`,
  ];
}

/**
 * The restore document that makes the pod's capture exactly what the options say, in one commit:
 * stray jumps removed, both chains (re)declared — which flushes them in --noflush mode — and
 * refilled, then one jump each. Undefined when what is installed already matches (the rules as
 * iptables-save prints them: the planner writes them in that same form).
 */
export function planInpodInstall(cur: InpodNatState, o: PodCaptureOptions): string | undefined {
  const want = inpodRules(o);
  const wantJumps = jumps();
  // iptables-save prints chains in its own order; within a chain the order is the rules' order.
  const inChain = (list: readonly string[], c: string): string => list.filter((r) => r.startsWith(`-A ${c} `)).join('\n');
  const same = CHAINS.every((c) => cur.chains.has(c) && inChain(cur.rules, c) === inChain(want, c))
    && cur.rules.length === want.length
    && cur.jumps.length === wantJumps.length && wantJumps.every((j) => cur.jumps.includes(j));
  if (same) return undefined;
  const lines = [
    ...cur.jumps.map((j) => `-D${j.slice(2)}`),
    ...CHAINS.map((c) => `:${c} - [0:0]`),
    ...want,
    ...wantJumps,
  ];
  return `*nat\n${lines.join('\n')}\nCOMMIT\n`;
}

/** The restore document that removes every trace of in-pod capture, or undefined if none. */
export function planInpodUninstall(cur: InpodNatState): string | undefined {
  const present = CHAINS.filter((c) => cur.chains.has(c));
  if (present.length === 0 && cur.jumps.length === 0) return undefined;
  const lines = [
    ...cur.jumps.map((j) => `-D${j.slice(2)}`),
    ...present.map((c) => `-F ${c}`),
    ...present.map((c) => `-X ${c}`),
  ];
  return `*nat\n${lines.join('\n')}\nCOMMIT\n`;
}
