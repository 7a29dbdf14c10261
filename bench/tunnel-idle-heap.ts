// Heap per idle HBONE tunnel, both agent ends in one process: the agent's connector (openTunnel +
// pipeTunnel, as outbound.ts splices an app's socket; the fixture's outbound listener) and its
// HBONE listener (createHboneServer + deliverToTcp) over mesh mTLS on loopback, to a TCP target;
// `--tunnels` app connections each send one byte and stay open. Prints the heap after GC per
// tunnel, less the heap with one warm tunnel (app and target sockets included: the same in any
// build). For a before/after, run it in both trees (a `git worktree` of the base):
//   node --expose-gc bench/tunnel-idle-heap.ts [--tunnels 1000]
import net from 'node:net';
import { parseArgs } from 'node:util';
import { connector, makeMesh, startHbone, startOutbound, startTarget, waitFor } from '../tests/agent/proxy/hbone/fixture.ts';

const { values } = parseArgs({ options: { tunnels: { type: 'string', default: '1000' } } });
const n = Number(values.tunnels);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
}

const mesh = await makeMesh();
const target = await startTarget((s) => s.resume());
const hb = await startHbone(mesh);
const conn = connector(mesh, { engine: 'weft', maxStreamsPerSession: n + 1 });
const out = await startOutbound(conn, hb.port, target.port);
const apps: net.Socket[] = [];
function dial(): void {
  const c = net.connect({ port: out.port, host: '127.0.0.1' });
  c.on('error', () => undefined);
  c.write('x');
  apps.push(c);
}
dial();
await waitFor(() => target.sockets.size === 1, 'the warm tunnel', 10_000);
const before = await heapAfterGc();
for (let i = 1; i <= n; i++) {
  dial();
  if (i % 100 === 0) await waitFor(() => target.sockets.size === i + 1, 'a batch of tunnels', 30_000);
}
await waitFor(() => target.sockets.size === n + 1, 'every tunnel', 30_000);
await new Promise((r) => setTimeout(r, 500));
const after = await heapAfterGc();
console.log(`${n} idle tunnels: ${Math.round((after - before) / n)} B of heap each (both agent ends, the app's and the target's sockets)`);
process.exit(0);
