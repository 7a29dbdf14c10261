// One bulk stream through an HBONE tunnel in one process: the agent's connector (client end) and
// listener (destination end) over mesh mTLS on loopback, an app socket writing N MiB into the
// tunnel and a target that counts and hashes them. Prints throughput and the process's CPU per
// GiB (both agent ends, the app and the target together), and the counts that do not depend on how
// loaded the machine is: garbage collections (major / minor), minor page faults and write
// syscalls... of the whole process per GiB; with node --cpu-prof, where the CPU goes.
//   node bench/tunnel-bulk.ts [--mib 256] [--engine weft|node] [--rounds 3] [--reverse] [--no-lent]
// --reverse: the target writes and the app counts (the direction of bench/ab.ts --bulk: the
// destination agent reads the target socket, lent-reads.ts); --no-lent: that socket reads the
// default way (a fresh buffer per read), for an A/B of the reuse in one process.
import net from 'node:net';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { deliverToTcp } from '../agent/proxy/hbone/index.ts';
import { closeServer, connector, makeMesh, startHbone, startOutbound, startTarget } from '../tests/agent/proxy/hbone/fixture.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, engine: { type: 'string', default: 'weft' }, rounds: { type: 'string', default: '3' }, reverse: { type: 'boolean', default: false }, 'no-lent': { type: 'boolean', default: false } } });
const engine = values.engine === 'node' ? 'node' : 'weft';
const bytes = Number(values.mib) * 1024 * 1024;

async function main(): Promise<void> {
  const mesh = await makeMesh();
  const noLent = values['no-lent'] === true;
  const hbone = await startHbone(mesh, undefined, 0, noLent
    ? { engine, onStream: (req) => deliverToTcp(req, (host, port) => net.connect({ host, port, allowHalfOpen: true })) }
    : { engine });
  let received = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const target = await startTarget((s) => {
    if (values.reverse === true) {
      s.on('data', () => {});
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      pump();
      return;
    }
    s.on('data', (c: Buffer) => { received += c.length; });
    s.on('end', () => s.end(String(received)));
  });
  const conn = connector(mesh, { engine });
  const out = await startOutbound(conn, hbone.port, target.port);
  const gcs = { major: 0, minor: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
      else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  for (let r = 0; r < Number(values.rounds); r++) {
    received = 0;
    gcs.major = 0;
    gcs.minor = 0;
    const ru0 = process.resourceUsage();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const app = net.connect({ host: '127.0.0.1', port: out.port, allowHalfOpen: true });
      app.on('error', reject);
      app.on('data', (c: Buffer) => { if (values.reverse === true) received += c.length; });
      app.on('end', () => { app.end(); resolve(); });
      if (values.reverse === true) return;
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!app.write(chunk)) {
            app.once('drain', pump);
            return;
          }
        }
        app.end();
      };
      app.once('connect', pump);
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const ru = process.resourceUsage();
    // GC entries arrive on a later turn.
    await new Promise((r) => setTimeout(r, 20));
    const gib = bytes / 2 ** 30;
    const per = (n: number): string => (n / gib).toFixed(0);
    process.stdout.write(`${engine}: ${values.mib} MiB in ${ms.toFixed(0)} ms, ${((bytes * 8) / (ms / 1000) / 1e9).toFixed(2)} Gb/s, CPU ${((cpu.user + cpu.system) / 1000 / gib).toFixed(0)} ms/GiB (user ${(cpu.user / 1000 / gib).toFixed(0)}, system ${(cpu.system / 1000 / gib).toFixed(0)}); per GiB: GCs ${per(gcs.major)} major / ${per(gcs.minor)} minor, ${per(ru.minorPageFault - ru0.minorPageFault)} page faults, ${per(ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches)} voluntary context switches; target got ${received}\n`);
  }
  obs.disconnect();
  await closeServer(out.server, out.sockets);
  await conn.close();
  await hbone.hbone.close();
  await closeServer(target.server, target.sockets);
}

main().catch((err: unknown) => {
  process.stderr.write(`tunnel-bulk: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
