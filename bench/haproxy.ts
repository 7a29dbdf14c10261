// The peer for comparison: Debian's HAProxy as an mTLS proxy pair, one per node, the way people
// secure pod-to-pod traffic without a mesh. On the client node a plain frontend takes the client
// pod's connections and forwards them over TLS 1.3 with a client certificate to the server node's
// HAProxy, which verifies the chain and forwards in plaintext to the server pod. Two modes:
// - `tcp` (the anchor of the opaque rows): bytes are carried as they are, one TLS connection
//   between the nodes per client connection.
// - `http` (the anchor of the L7 rows, issue 19): n1 parses the client's HTTP/1.1 (or h2c with
//   prior knowledge, which HAProxy detects from the preface) and sends each request as an HTTP/2
//   stream on pooled TLS 1.3 + client-certificate connections to n2 (`alpn h2`, `http-reuse
//   always`), which speaks HTTP/1.1 to an HTTP/1.1 app and HTTP/2 (h2c) to an h2c or gRPC app:
//   the same shape as Weft's L7 hop.
//
// Redirection (documented in bench/README): the client pod dials the server pod's own IP and port,
// exactly as in the other configurations, and an iptables `nat PREROUTING … REDIRECT` rule in the
// client node's namespace steers it to the local frontend. That is the same kind of kernel work as
// Weft's TPROXY rule (one netfilter match, local delivery), so neither side gets the cheaper path,
// and the client process is byte-for-byte the same in all rows. HAProxy then uses a fixed backend
// per port (there is one server pod per configuration), which is simpler than Weft's per-connection
// destination lookup: an advantage the peer keeps.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTestCa, makeTestLeaf } from '../tests/common/test-pki.ts';
import type { Testbed } from '../tests/testbed/testbed.ts';

/** `tcp`: bytes carried opaquely; `http`: requests parsed and carried as HTTP/2 between the nodes. */
export type HaproxyMode = 'tcp' | 'http';

/** One forwarded port: the client dials `serverIp:port`, and it arrives there through the pair. */
export interface ForwardedPort {
  port: number;
  /** Plain frontend on the client node (the REDIRECT target). */
  outbound: number;
  /** TLS frontend on the server node. */
  inbound: number;
  /** What the server pod speaks on `port` (HTTP mode only; default h1): h2 = HTTP/2 prior knowledge. */
  app?: 'h1' | 'h2';
}

export interface HaproxyPairOptions {
  tb: Testbed;
  dir: string;
  clientNode: string;
  serverNode: string;
  clientPodIp: string;
  serverPodIp: string;
  ports: ForwardedPort[];
  /** tcp (default) or http. */
  mode?: HaproxyMode;
  /** nbthread: the same core budget as the Weft agent's WEFT_WORKERS. */
  threads: number;
  /** Global and per-frontend maxconn (default 4000). HAProxy needs two descriptors per connection
   * and refuses to start when it cannot raise RLIMIT_NOFILE to fit, so size it to the hard limit. */
  maxconn?: number;
}

export interface HaproxyPair {
  /** The two processes, for CPU and RSS readings. */
  processes: { name: string; pid: number }[];
  stop(): Promise<void>;
}

/** Installs Debian's haproxy when it is missing, so `npm run bench` works on a fresh machine. */
export function ensureHaproxy(): void {
  if (findHaproxy() !== undefined) return;
  if (process.getuid?.() !== 0) throw new Error('haproxy is not installed and we are not root: run `sudo apt-get install haproxy`');
  console.error('bench: installing Debian package haproxy');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  runOrThrow('apt-get', ['update', '-q'], env);
  runOrThrow('apt-get', ['install', '-y', '-q', 'haproxy'], env);
  if (findHaproxy() === undefined) throw new Error('apt-get installed haproxy but no haproxy binary was found');
}

export function findHaproxy(): string | undefined {
  return ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p));
}

function runOrThrow(cmd: string, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

export interface HaproxyPki {
  /** The CA certificate (PEM file). */
  ca: string;
  /** Certificate + key PEM files, as HAProxy's `crt` wants them. */
  client: string;
  server: string;
  /** The DNS SAN of the server node's certificate (`verifyhost`). */
  serverName: string;
}

/** The identity each HAProxy presents: same shape as Weft's (ECDSA P-256, SPIFFE URI SAN). Files
 * are named after `prefix`, so two pairs can share a directory. */
export async function writePki(dir: string, clientNode: string, serverNode: string, prefix = 'haproxy'): Promise<HaproxyPki> {
  const ca = await makeTestCa('bench-haproxy-ca');
  const serverName = `${serverNode}.haproxy.bench`;
  const leaf = async (node: string, dns: string) => makeTestLeaf(ca, {
    uris: [`spiffe://cluster.local/ns/haproxy/sa/${node}`],
    dns: [dns],
    notAfter: new Date(Date.now() + 24 * 3600_000),
  });
  const c = await leaf(clientNode, `${clientNode}.haproxy.bench`);
  const s = await leaf(serverNode, serverName);
  const files = { ca: join(dir, `${prefix}-ca.crt`), client: join(dir, `${prefix}-${clientNode}.pem`), server: join(dir, `${prefix}-${serverNode}.pem`) };
  await writeFile(files.ca, ca.certPem, { mode: 0o600 });
  // HAProxy's `crt` wants the certificate and its key in one file.
  await writeFile(files.client, `${c.certPem}\n${c.keyPem}\n`, { mode: 0o600 });
  await writeFile(files.server, `${s.certPem}\n${s.keyPem}\n`, { mode: 0o600 });
  return { ...files, serverName };
}

function globalSection(mode: HaproxyMode, threads: number, maxconn: number): string {
  return [
    'global',
    `    nbthread ${threads}`,
    `    maxconn ${maxconn}`,
    '    ssl-server-verify required',
    // TLS 1.3 only on both sides, as HBONE; cipher suites stay at OpenSSL's defaults
    // (TLS_AES_256_GCM_SHA384 first, the suite Node also picks first).
    '    ssl-default-bind-options ssl-min-ver TLSv1.3',
    '    ssl-default-server-options ssl-min-ver TLSv1.3',
    '',
    'defaults',
    `    mode ${mode}`,
    `    maxconn ${maxconn}`,
    '    timeout connect 5s',
    '    timeout client 300s',
    '    timeout server 300s',
    '',
  ].join('\n');
}

/** Client-node config: plain frontends, TLS with a client certificate to the server node. In HTTP
 * mode the peer connection is HTTP/2 (ALPN h2) and shared by every client connection's requests
 * (`http-reuse always`), as Weft pools its mTLS sessions between agents. A plain HTTP frontend
 * takes HTTP/1.1 and, from the preface, h2c with prior knowledge. */
export function clientConfig(o: { mode?: HaproxyMode; threads: number; maxconn?: number; serverNodeIp: string; ports: ForwardedPort[]; ca: string; cert: string; serverName: string }): string {
  const mode = o.mode ?? 'tcp';
  const parts = [globalSection(mode, o.threads, o.maxconn ?? 4000)];
  for (const p of o.ports) {
    parts.push([
      `frontend out-${p.port}`,
      `    bind 0.0.0.0:${p.outbound}`,
      `    default_backend out-${p.port}`,
      `backend out-${p.port}`,
      ...(mode === 'http' ? ['    http-reuse always'] : []),
      `    server peer ${o.serverNodeIp}:${p.inbound} ssl crt ${o.cert} ca-file ${o.ca} verify required verifyhost ${o.serverName}${mode === 'http' ? ' alpn h2' : ''}`,
      '',
    ].join('\n'));
  }
  return parts.join('\n');
}

/** Server-node config: TLS frontends that require and verify a client certificate (HTTP mode: and
 * offer only h2); the app is reached in plaintext, HTTP/1.1 or h2c as it speaks. */
export function serverConfig(o: { mode?: HaproxyMode; threads: number; maxconn?: number; bindIp: string; serverPodIp: string; ports: ForwardedPort[]; ca: string; cert: string }): string {
  const mode = o.mode ?? 'tcp';
  const parts = [globalSection(mode, o.threads, o.maxconn ?? 4000)];
  for (const p of o.ports) {
    const h2App = mode === 'http' && p.app === 'h2';
    parts.push([
      `frontend in-${p.port}`,
      `    bind ${o.bindIp}:${p.inbound} ssl crt ${o.cert} ca-file ${o.ca} verify required${mode === 'http' ? ' alpn h2' : ''}`,
      `    default_backend in-${p.port}`,
      `backend in-${p.port}`,
      `    server app ${o.serverPodIp}:${p.port}${h2App ? ' proto h2' : ''}`,
      '',
    ].join('\n'));
  }
  return parts.join('\n');
}

/** How a process is started: in a node's namespace (the bench), or right here (tests on loopback). */
export type HaproxyLaunch = (cmd: string, args: string[]) => ChildProcess;

/** Starts one HAProxy on a config file; `ready` resolves once it has not exited for a moment. */
export function startHaproxy(launch: HaproxyLaunch, cfg: string, name: string): { child: ChildProcess; ready: Promise<void> } {
  const bin = findHaproxy();
  if (bin === undefined) throw new Error('haproxy is not installed');
  // -db: stay in the foreground, so the caller owns (and on teardown kills) the process itself.
  const child = launch(bin, ['-db', '-f', cfg]);
  let err = '';
  child.stdout?.on('data', () => {});
  child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  const ready = new Promise<void>((resolve, reject) => {
    // HAProxy prints nothing when it starts well; give it a moment to fail loudly instead.
    const t = setTimeout(resolve, 500);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`haproxy ${name} exited (${code}): ${err}`)); });
  });
  return { child, ready };
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
export async function stopHaproxy(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((res) => c.once('exit', res));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

export async function startHaproxyPair(o: HaproxyPairOptions): Promise<HaproxyPair> {
  const mode = o.mode ?? 'tcp';
  const pki = await writePki(o.dir, o.clientNode, o.serverNode, `haproxy-${mode}`);
  const cn = o.tb.node(o.clientNode);
  const sn = o.tb.node(o.serverNode);
  const clientCfg = join(o.dir, `haproxy-${mode}-${o.clientNode}.cfg`);
  const serverCfg = join(o.dir, `haproxy-${mode}-${o.serverNode}.cfg`);
  await writeFile(clientCfg, clientConfig({ mode, threads: o.threads, maxconn: o.maxconn, serverNodeIp: sn.ip, ports: o.ports, ca: pki.ca, cert: pki.client, serverName: pki.serverName }));
  await writeFile(serverCfg, serverConfig({ mode, threads: o.threads, maxconn: o.maxconn, bindIp: sn.ip, serverPodIp: o.serverPodIp, ports: o.ports, ca: pki.ca, cert: pki.server }));
  const server = startHaproxy((cmd, a) => o.tb.spawn(sn.netns, cmd, a), serverCfg, `${mode} ${o.serverNode}`);
  const client = startHaproxy((cmd, a) => o.tb.spawn(cn.netns, cmd, a), clientCfg, `${mode} ${o.clientNode}`);
  const rules = o.ports.map((p) => ['-s', `${o.clientPodIp}/32`, '-p', 'tcp', '--dport', String(p.port), '-j', 'REDIRECT', '--to-ports', String(p.outbound)]);
  const stop = async (): Promise<void> => {
    for (const r of rules) await o.tb.exec(cn.netns, 'iptables', ['-t', 'nat', '-D', 'PREROUTING', ...r]);
    for (const c of [client.child, server.child]) await stopHaproxy(c);
  };
  try {
    await Promise.all([server.ready, client.ready]);
    for (const r of rules) {
      const res = await o.tb.exec(cn.netns, 'iptables', ['-t', 'nat', '-A', 'PREROUTING', ...r]);
      if (res.code !== 0) throw new Error(`iptables REDIRECT failed: ${res.stderr}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    processes: [
      { name: `haproxy ${o.clientNode}`, pid: client.child.pid! },
      { name: `haproxy ${o.serverNode}`, pid: server.child.pid! },
    ],
    stop,
  };
}
