// Stalled downloads for the e2e files about what slow readers hold (stalled-readers, held-bytes):
// tests/apps/stall-client.ts in app-1 opens `connections` downloads, reads a little of each and
// stops; then the stalled streams get `fillMs` to run into their windows (the socket buffers on
// the way, then the agents' stream windows; l7-server writes 1 KiB at a time).
import type { Test } from 'tap';
import type { Mesh } from '../testbed/mesh.ts';

export interface StallOptions { host: string; port: number; connections: number; bytes: number; fillMs: number }

export async function stallDownloads(t: Test, mesh: Mesh, o: StallOptions): Promise<void> {
  const args = ['--host', o.host, '--port', String(o.port), '--proto', 'http', '--connections', String(o.connections), '--bytes', String(o.bytes), '--path', `/chunked/${o.bytes}`];
  const app = await mesh.startApp('app-1', 'stall-client.ts', args);
  t.teardown(() => app.stop(1000));
  const line = await app.waitForLine((l) => 'stalled' in l, 60_000);
  t.equal(line.stalled, o.connections, `${o.connections} downloads flowed, then their reader stopped`);
  await new Promise((r) => setTimeout(r, o.fillMs));
}
