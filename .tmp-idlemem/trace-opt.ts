// Throwaway (not committed): which functions V8 optimizes while an idle agent starts.
import { withTestbed } from '../tests/testbed/index.ts';
import { Mesh } from '../tests/testbed/mesh.ts';
const teardowns: Array<() => unknown> = [];
const host = { teardown: (fn: () => unknown) => { teardowns.push(fn); } };
try {
  const tb = await withTestbed(host, { name: 'trace-opt', nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] }, { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] }] });
  const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'], services: [] }, agentEnv: { WEFT_WORKERS: '0', NODE_OPTIONS: '--trace-opt' } });
  teardowns.push(() => mesh.stop());
  await Promise.all(['n1', 'n2'].map((n) => mesh.waitReady(n)));
  await new Promise((r) => setTimeout(r, 15000));
  for (const n of ['n1', 'n2']) {
    const log = mesh.agentLog(n).split('\n').filter((l) => /compiling method|completed compiling|marking/.test(l));
    process.stdout.write(`== ${n}: ${log.length} lines\n${log.filter((l) => /TURBOFAN|completed/.test(l)).slice(0, 40).join('\n')}\n`);
  }
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
