// The bench's test bed: one testbed per redirect mode among `configs` (a client pod on the client
// node and a server pod on the server node per configuration), a mesh on each (control and an agent
// per node), the servers in every server pod, and each configuration's own setup (HAProxy).
// Shared by the suite (run.ts) and the A/B comparison (ab.ts); `close()` undoes all of it.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { appPath, startApp, type RunningApp } from '../tests/apps/spawn-app.ts';
import { testbedName, type RedirectMode } from '../tests/ebpf/mode.ts';
import { Mesh } from '../tests/testbed/mesh.ts';
import { Testbed } from '../tests/testbed/testbed.ts';
import {
  CLIENT_NODE, SERVER_NODE, OPAQUE_PORTS, TCP_PORT, clientPod, nofile, serverPod, siteOf,
  type BenchContext, type Configuration, type Site,
} from './configurations.ts';

export interface Bed {
  ctx: BenchContext;
  close(): Promise<void>;
}

/** The agents hold a descriptor per proxied connection on each side: give them the soft limit up
 * to the hard one (raising the hard limit needs CAP_SYS_RESOURCE, which a container may lack). */
function raiseAgentLimits(mesh: Mesh): void {
  const n = nofile();
  for (const node of [CLIENT_NODE, SERVER_NODE]) {
    const pid = mesh.agentPid(node);
    if (pid === undefined) continue;
    const r = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${n}:${n}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`prlimit on agent ${node} failed: ${r.stderr}`);
  }
}

/** One testbed and mesh for a redirect mode, holding the pods of that mode's configurations. */
async function startSite(base: string, mode: RedirectMode, configs: Configuration[]): Promise<Site> {
  const tb = await Testbed.create({
    // The eBPF testbed's bpffs pins live under a name that says so (tests/ebpf/bpffs.ts).
    name: testbedName(base, mode),
    nodes: [
      { name: CLIENT_NODE, pods: configs.map((c) => ({ name: clientPod(c), namespace: c.namespace })) },
      { name: SERVER_NODE, pods: configs.map((c) => ({ name: serverPod(c), namespace: c.namespace })) },
    ],
  });
  let mesh: Mesh | undefined;
  try {
    mesh = await Mesh.start(tb, {
      cluster: { meshedNamespaces: configs.filter((c) => c.meshed).map((c) => c.namespace) },
      redirectMode: mode,
      // One client pod opens the 10 000 idle connections: the per-workload fairness limit (4096 by
      // default) would refuse most of them, and the bench measures the proxy, not that limit.
      // WEFT_WORKERS at its default, 0, so the suite measures the agent a user installs (on a node
      // of up to 2 cores: the proxy inline on the main thread). Said explicitly: the test mesh
      // (tests/testbed/mesh.ts) pins 2 workers for the e2e suites. A row that wants workers sets
      // them in its own agentEnv; bench/ab.ts compares the two with --env-a/--env-b.
      agentEnv: { WEFT_WORKERS: '0', WEFT_OPAQUE_PORTS: [OPAQUE_PORTS.h1, OPAQUE_PORTS.h2, OPAQUE_PORTS.grpc].join(','), WEFT_MAX_CONNECTIONS_PER_WORKLOAD: '65536' },
    });
    raiseAgentLimits(mesh);
    return { tb, mesh };
  } catch (err) {
    await mesh?.stop().catch(() => {});
    await tb.teardown();
    throw err;
  }
}

async function startServers(ctx: BenchContext, c: Configuration, apps: RunningApp[]): Promise<void> {
  const { tb } = siteOf(ctx, c);
  const netns = tb.pod(serverPod(c)).netns;
  const launch = (cmd: string, a: string[]) => tb.spawn(netns, 'prlimit', [`--nofile=${nofile()}:${nofile()}`, cmd, ...a]);
  const start = async (app: string, args: string[]): Promise<void> => { apps.push(await startApp(appPath(app), args, 15_000, launch)); };
  await start('http-server.ts', ['--port', String(c.ports.h1), '--name', c.id, '--keep-alive', '600000']);
  // l7-server's HTTP/1.1 listener is unused here; it serves the h2c port.
  await start('l7-server.ts', ['--port', String(c.ports.h2 + 100), '--h2-port', String(c.ports.h2), '--name', c.id]);
  await start('grpc-server.ts', ['--port', String(c.ports.grpc)]);
  await start('tcp-server.ts', ['--port', String(TCP_PORT)]);
}

/** Builds the bed for `configs`; on failure whatever was started is stopped before it throws. */
export async function openBed(name: string, configs: Configuration[]): Promise<Bed> {
  const workers = os.cpus().length;
  const dir = await mkdtemp(join(os.tmpdir(), `weft-${name}-`));
  const apps: RunningApp[] = [];
  const sites = new Map<RedirectMode, Site>();
  const ctx: BenchContext = { sites, dir, workers };
  const close = async (): Promise<void> => {
    for (const c of configs) await c.teardown?.().catch(() => {});
    await Promise.all(apps.map((a) => a.stop(1000)));
    for (const s of sites.values()) {
      await s.mesh.stop().catch(() => {});
      await s.tb.teardown();
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const m of [...new Set(configs.map((c) => c.site))]) sites.set(m, await startSite(name, m, configs.filter((c) => c.site === m)));
    for (const c of configs) {
      await startServers(ctx, c, apps);
      await c.setup?.(ctx);
    }
    return { ctx, close };
  } catch (err) {
    await close();
    throw err;
  }
}
