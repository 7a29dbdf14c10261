// The e2e data-plane tests run in either redirect mode (WEFT_TEST_REDIRECT_MODE=iptables|ebpf;
// tests/e2e/ebpf-*.test.ts set ebpf and import the shared bodies). This is the part that differs:
// the testbed name and how a test reads what the redirector left in a node's kernel.
import type { Mesh } from '../testbed/mesh.ts';
import type { Testbed } from '../testbed/testbed.ts';

export type RedirectMode = 'iptables' | 'ebpf';

export function testRedirectMode(): RedirectMode {
  return process.env.WEFT_TEST_REDIRECT_MODE === 'ebpf' ? 'ebpf' : 'iptables';
}

/** Testbed names carry the mode, so both variants of a file can run at once. */
export function testbedName(base: string, mode: RedirectMode = testRedirectMode()): string {
  return mode === 'ebpf' ? `ebpf-${base}` : base;
}

export interface RedirectInspector {
  /** True when the pod (by testbed name) is captured on its node right now. */
  captures(pod: string): Promise<boolean>;
  /** Kernel lines that exist once per captured pod (duplicates mean a restart re-installed). */
  workloadLines(pod: string): Promise<string[]>;
  /** Everything of the redirector on a node; [] after a clean uninstall. */
  leftovers(node: string): Promise<string[]>;
}

export function redirectInspector(mesh: Mesh, mode: RedirectMode = testRedirectMode()): RedirectInspector {
  if (mesh.captureScope === 'pod' && mode === 'iptables') return inpodIptablesInspector(mesh.tb);
  return mode === 'ebpf' ? ebpfInspector(mesh) : iptablesInspector(mesh.tb);
}

/** Pod scope, iptables: the nat rules inside each pod's own namespace (and nothing on the node). */
function inpodIptablesInspector(tb: Testbed): RedirectInspector {
  const podRules = async (pod: string): Promise<string[]> =>
    (await tb.exec(tb.pod(pod).netns, 'iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => /weft/i.test(l));
  const node = iptablesInspector(tb);
  return {
    async captures(pod) {
      return (await podRules(pod)).some((l) => l.startsWith('-A OUTPUT ') && l.includes('WEFT-INPOD-OUT'));
    },
    async workloadLines(pod) {
      return (await podRules(pod)).filter((l) => l.startsWith('-A'));
    },
    async leftovers(nodeName) {
      const left = await node.leftovers(nodeName);
      for (const n of tb.model.nodes) {
        if (n.name !== nodeName) continue;
        for (const p of n.pods) left.push(...(await podRules(p.name)).map((l) => `${p.name}: ${l}`));
      }
      return left;
    },
  };
}

async function routingLeftovers(tb: Testbed, netns: string): Promise<string[]> {
  const left: string[] = [];
  const rules = await tb.exec(netns, 'ip', ['rule', 'show']);
  left.push(...rules.stdout.split('\n').filter((l) => l.includes('0x539')));
  const table = await tb.exec(netns, 'ip', ['route', 'show', 'table', '133']);
  left.push(...table.stdout.split('\n').filter((l) => l.trim() !== ''));
  return left;
}

function iptablesInspector(tb: Testbed): RedirectInspector {
  const weftRules = async (netns: string): Promise<string[]> =>
    (await tb.exec(netns, 'iptables-save', ['-t', 'mangle'])).stdout.split('\n').filter((l) => /weft/i.test(l));
  const keyOf = (pod: string) => `weft:${tb.pod(pod).namespace}/${pod}`;
  return {
    async captures(pod) {
      return (await weftRules(tb.node(tb.pod(pod).node).netns)).some((l) => l.includes(keyOf(pod)));
    },
    async workloadLines(pod) {
      return (await weftRules(tb.node(tb.pod(pod).node).netns)).filter((l) => l.includes(keyOf(pod)) && l.startsWith('-A'));
    },
    async leftovers(node) {
      const netns = tb.node(node).netns;
      return [...(await weftRules(netns)), ...(await routingLeftovers(tb, netns))];
    },
  };
}

function ebpfInspector(mesh: Mesh): RedirectInspector {
  const tb = mesh.tb;
  const root = mesh.pinRoot ?? '/sys/fs/bpf';
  const pins = async (node: string): Promise<string[]> => {
    const r = await tb.exec(tb.node(node).netns, 'find', [root, '-path', `${root}/weft-${node}-*`]);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  const meshed = async (node: string): Promise<string[]> => {
    const maps = (await pins(node)).filter((p) => p.endsWith('/maps/weft_meshed'));
    const ips: string[] = [];
    for (const m of maps) {
      const rows = JSON.parse((await tb.exec(tb.node(node).netns, 'bpftool', ['-j', 'map', 'dump', 'pinned', m])).stdout || '[]') as Array<{ key: string[] }>;
      ips.push(...rows.map((r) => r.key.map((h) => parseInt(h, 16)).join('.')));
    }
    return ips;
  };
  const filters = async (netns: string, iface: string): Promise<string[]> => {
    const out: string[] = [];
    for (const hook of ['ingress', 'egress']) {
      const rows = JSON.parse((await tb.exec(netns, 'tc', ['-j', 'filter', 'show', 'dev', iface, hook])).stdout || '[]') as Array<{ options?: { prog?: { name?: string } } }>;
      for (const r of rows) if (r.options !== undefined) out.push(`tc ${iface} ${hook} ${r.options.prog?.name ?? 'non-bpf'}`);
    }
    const q = (await tb.exec(netns, 'tc', ['qdisc', 'show', 'dev', iface])).stdout;
    if (q.includes('clsact')) out.push(`tc ${iface} clsact`);
    return out;
  };
  return {
    async captures(pod) {
      const p = tb.pod(pod);
      return (await meshed(p.node)).includes(p.ip);
    },
    async workloadLines(pod) {
      const p = tb.pod(pod);
      const lines = (await filters(tb.node(p.node).netns, p.hostIface)).filter((l) => l.includes('weft_'));
      for (const ip of await meshed(p.node)) if (ip === p.ip) lines.push(`meshed ${ip}`);
      return lines;
    },
    async leftovers(node) {
      const netns = tb.node(node).netns;
      const links = JSON.parse((await tb.exec(netns, 'ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
      const left: string[] = [];
      for (const l of links) left.push(...(await filters(netns, l.ifname)));
      left.push(...(await pins(node)).map((p) => `pin ${p}`));
      return [...left, ...(await routingLeftovers(tb, netns))];
    },
  };
}
