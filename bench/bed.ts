// The bench's test bed: one testbed with a client pod on the client node and a server pod on the
// server node per configuration, the mesh (control and an agent per node), the HTTP and TCP
// servers in every server pod, and each configuration's own setup (HAProxy). Shared by the
// suite (run.ts) and the A/B comparison (ab.ts); `close()` undoes all of it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { appPath, startApp, type RunningApp } from '../tests/apps/spawn-app.ts';
import { Mesh } from '../tests/testbed/mesh.ts';
import { Testbed } from '../tests/testbed/testbed.ts';
import { CLIENT_NODE, SERVER_NODE, HTTP_PORT, OPAQUE_HTTP_PORT, TCP_PORT, clientPod, serverPod, type BenchContext, type Configuration } from './configurations.ts';

export interface Bed {
  ctx: BenchContext;
  close(): Promise<void>;
}

/** Builds the bed for `configs`; on failure whatever was started is stopped before it throws. */
export async function openBed(name: string, configs: Configuration[]): Promise<Bed> {
  const workers = os.cpus().length;
  const tb = await Testbed.create({
    name,
    nodes: [
      { name: CLIENT_NODE, pods: configs.map((c) => ({ name: clientPod(c), namespace: c.namespace })) },
      { name: SERVER_NODE, pods: configs.map((c) => ({ name: serverPod(c), namespace: c.namespace })) },
    ],
  });
  const dir = await mkdtemp(join(os.tmpdir(), `weft-${name}-`));
  const apps: RunningApp[] = [];
  let mesh: Mesh | undefined;
  const close = async (): Promise<void> => {
    for (const c of configs) await c.teardown?.().catch(() => {});
    await Promise.all(apps.map((a) => a.stop(1000)));
    await mesh?.stop().catch(() => {});
    await tb.teardown();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    mesh = await Mesh.start(tb, {
      cluster: { meshedNamespaces: configs.filter((c) => c.meshed).map((c) => c.namespace) },
      agentEnv: { WEFT_WORKERS: String(workers), WEFT_OPAQUE_PORTS: String(OPAQUE_HTTP_PORT) },
    });
    const ctx: BenchContext = { tb, mesh, dir, workers };
    for (const c of configs) {
      const netns = tb.pod(serverPod(c)).netns;
      const launch = (cmd: string, a: string[]) => tb.spawn(netns, cmd, a);
      apps.push(await startApp(appPath('http-server.ts'), ['--port', String(c.httpPort ?? HTTP_PORT), '--name', c.id], 15_000, launch));
      apps.push(await startApp(appPath('tcp-server.ts'), ['--port', String(TCP_PORT)], 15_000, launch));
      await c.setup?.(ctx);
    }
    return { ctx, close };
  } catch (err) {
    await close();
    throw err;
  }
}
