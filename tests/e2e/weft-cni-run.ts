// Runs the real weft-cni plugin the way a container runtime does: the CNI environment, the
// network configuration (with the previous plugin's result) on stdin, the answer on stdout.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEFT_CNI = join(fileURLToPath(new URL('../../', import.meta.url)), 'agent/native/build/weft-cni');

export interface CniAdd {
  /** Resolves when the plugin exits. */
  exited: Promise<{ code: number | null; out: string }>;
  /** Whether it has exited yet. */
  done(): boolean;
}

export function weftCniAdd(o: { socket: string; netnsPath: string; namespace: string; pod: string; ip: string; containerId?: string }): CniAdd {
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'testbed', type: 'weft-cni', prevResult: { cniVersion: '1.0.0', ips: [{ address: `${o.ip}/32` }] } });
  const plugin = spawn(WEFT_CNI, [], {
    env: {
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: o.containerId ?? 'c0ffee', CNI_NETNS: o.netnsPath, CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${o.namespace};K8S_POD_NAME=${o.pod}`, CNI_PATH: '/opt/cni/bin',
      WEFT_CNI_SOCKET: o.socket,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let finished = false;
  plugin.stdout.on('data', (d: Buffer) => (out += d.toString()));
  plugin.stdin.end(conf);
  const exited = new Promise<{ code: number | null; out: string }>((resolve) => plugin.once('close', (code) => {
    finished = true;
    resolve({ code, out });
  }));
  return { exited, done: () => finished };
}
