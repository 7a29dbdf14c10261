// The admin surface (issues 11 and 17): nothing on the agent's admin server (15020 and its unix
// socket), its metrics port or control's dashboard lets a pod change the mesh, and no secret shows
// up where an operator looks. Every route is enumerated from the servers themselves (the 404
// answer lists them; config_dump lists its sections), every mutating method is tried on every
// route — over TCP in the node (admin is loopback only), from a pod on the metrics port, and on
// the unix socket — and the full config dump, the read-only APIs and every log line are searched
// for the CA key, the bootstrap tokens, the dashboard token and any private key.
// Issue 17: from a pod, nothing but GET /metrics on the metrics port answers on any address of the
// node, with the metrics port on (the chart's ServiceMonitor) and off; admin never leaves loopback.
import t from 'tap';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { Scenario } from '../apps/bad-input-client.ts';
import { HttpsCertificateSigner, generateCsr } from '../../agent/identity/index.ts';
import { runScenarios } from './sec-helpers.ts';
import { AGENT_BUNDLE } from '../testbed/mesh.ts';

const MUTATING = ['POST', 'PUT', 'DELETE', 'PATCH'];
const dashboardToken = randomBytes(16).toString('hex');
const tb = await withTestbed(t, {
  name: 'sec-admin-surface',
  nodes: [{ name: 'n1', pods: [{ name: 'app', namespace: 'demo' }, { name: 'peer', namespace: 'demo' }] }],
});
const METRICS_PORT = 15090;
const n1 = tb.node('n1');
// As the chart renders the agent with its ServiceMonitor on: the metrics port on the node IP.
const metricsOn = { WEFT_METRICS_ADDRESS: `${n1.ip}:${METRICS_PORT}` };
const mesh = await Mesh.start(tb, {
  cluster: { meshedNamespaces: ['demo'] },
  controlEnv: { WEFT_DASHBOARD_TOKEN: dashboardToken },
  agentEnv: { WEFT_ACCESS_LOG: 'true', WEFT_LOG_LEVEL: 'debug', ...metricsOn },
});
t.teardown(() => mesh.stop());
await mesh.startApp('peer', 'tcp-server.ts', ['--port', '8080']);

/** A request on the admin unix socket (the CLI's door): status and body text. */
function unix(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: mesh.adminSocket('n1'), method, path, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: -1, text: `${err.code ?? err.message}` }));
    req.end(body);
  });
}

/** Every admin path: the fixed ones, what the 404 lists, and one per config_dump section. */
async function adminRoutes(): Promise<string[]> {
  const miss = await unix('GET', '/no-such-endpoint');
  // "no admin endpoint /x; try /healthz, /ready, /config_dump, /metrics, …": the part after "try".
  const listed = [...((JSON.parse(miss.text) as { message: string }).message.split('try ')[1] ?? '').matchAll(/\/[a-z_]+/g)].map((m) => m[0]);
  const sections = Object.keys(JSON.parse((await unix('GET', '/config_dump')).text) as Record<string, unknown>);
  return [...new Set(['/', '/healthz', '/ready', '/config_dump', '/tap', ...listed, ...sections.map((s) => `/config_dump/${s}`)])];
}

/** The node's addresses a pod can dial (every IPv4 address of the node's namespace but loopback). */
async function nodeAddresses(): Promise<string[]> {
  const out = (await tb.exec(n1.netns, 'ip', ['-4', '-o', 'addr', 'show'])).stdout;
  return [...new Set([...out.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]).filter((a) => !a.startsWith('127.')))];
}

/** TCP ports listening in the node's namespace (the agent's, as nothing else runs there). */
async function listeningPorts(): Promise<number[]> {
  const out = (await tb.exec(n1.netns, 'ss', ['-ltnH'])).stdout;
  return [...new Set([...out.matchAll(/\s\S+:(\d+)\s+\S+:\*/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}

// The proxy's own listeners take a pod's connection as traffic to forward, not as a request to
// answer; a pod dialing them directly is issue 17 part 7 (own-listener loop), tested there.
const PROXY_PORTS = new Set([15001, 15006, 15008]);

async function restartN1(env: Record<string, string>): Promise<void> {
  await mesh.stopAgent('n1');
  await mesh.startAgent('n1', env);
  await mesh.waitReady('n1');
}

for (const mode of ['off', 'on'] as const) {
  t.test(`from a pod, nothing but GET /metrics on the metrics port answers on any node address (metrics port ${mode})`, async (t) => {
    await restartN1(mode === 'on' ? metricsOn : { WEFT_METRICS_ADDRESS: '' });
    const routes = await adminRoutes();
    t.ok(routes.includes('/tap') && routes.includes('/config_dump/certs') && routes.includes('/stats'), `enumerated ${routes.length} admin routes`);
    const addresses = await nodeAddresses();
    t.ok(addresses.includes(n1.ip) && addresses.length >= 2, `node addresses: ${addresses.join(', ')}`);
    const listening = await listeningPorts();
    t.ok(listening.includes(15020), `the agent listens on ${listening.join(', ')}`);
    t.equal(listening.includes(METRICS_PORT), mode === 'on', `the metrics port is ${mode === 'on' ? 'open' : 'closed'}`);
    // Every port the node listens on, plus the admin and metrics ports whatever ss says.
    const ports = [...new Set([...listening, 15020, METRICS_PORT])].filter((p) => !PROXY_PORTS.has(p));
    const scenarios: Scenario[] = [];
    for (const host of addresses) {
      for (const port of ports) {
        for (const r of routes) scenarios.push({ kind: 'raw', name: `GET ${host}:${port}${r}`, host, port, waitMs: 3000, send: `GET ${r} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n` });
        scenarios.push({ kind: 'raw', name: `WS ${host}:${port}/tap`, host, port, waitMs: 3000, send: `GET /tap HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n` });
      }
    }
    const results = await runScenarios((cmd, args) => tb.spawn(tb.pod('app').netns, cmd, args), scenarios, 180_000);
    const answered: string[] = [];
    for (const s of scenarios) {
      const res = results.get(s.name);
      const status = /^HTTP\/1\.1 (\d+)/.exec(res?.response ?? '')?.[1] ?? '';
      if (/^[12]/.test(status)) answered.push(`${s.name} ${status}`);
    }
    const want = mode === 'on' ? [`GET ${n1.ip}:${METRICS_PORT}/metrics 200`] : [];
    t.same(answered, want, `of ${scenarios.length} requests from the pod, only ${want.length === 0 ? 'none' : want.join(', ')} answered`);
    if (mode === 'on') {
      const m = results.get(`GET ${n1.ip}:${METRICS_PORT}/metrics`)?.response ?? '';
      t.match(m, /^weft_proxy_connections_opened_total|weft_rejected_input_total|weft_control_connected/m, 'the scrape is Prometheus text with the agent\'s series');
      t.match(results.get(`GET ${n1.ip}:${METRICS_PORT}/config_dump`)?.response ?? '', /^HTTP\/1\.1 404 [\s\S]*weft-error: WEFT_ERR_ADMIN_NOT_FOUND/, 'the metrics port answers 404 for the rest, with a code');
    }
    // The CLI's doors stay open: loopback TCP inside the node, and the unix socket.
    const inNode = await runScenarios((cmd, args) => tb.spawn(n1.netns, cmd, args), [{ kind: 'raw', name: 'loopback', host: '127.0.0.1', port: 15020, send: 'GET /config_dump/agent HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' }]);
    t.match(inNode.get('loopback')?.response ?? '', /^HTTP\/1\.1 200 [\s\S]*"node": "n1"/, 'admin answers on the node\'s loopback');
    t.equal((await unix('GET', '/config_dump/agent')).status, 200, 'and on the unix socket');
  });
}

t.test('the agent refuses to bind admin beyond loopback', async (t) => {
  const failed = tb.spawn(n1.netns, process.execPath, [AGENT_BUNDLE], { env: { PATH: process.env.PATH, WEFT_NODE_NAME: 'n1', WEFT_ADMIN_HOST: n1.ip, WEFT_ADMIN_SOCKET: '' } });
  let err = '';
  failed.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  failed.stdout?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => failed.on('close', resolve));
  t.not(code, 0, 'it exits');
  t.match(err, /WEFT_ERR_CONFIG_INVALID/, 'with a config error');
  t.match(err, /WEFT_ERR_ADMIN_NOT_LOOPBACK: WEFT_ADMIN_HOST .*is not loopback/, 'naming the setting');
  t.ok(err.includes(n1.ip), 'and the address it refused');
  t.match(err, /WEFT_METRICS_ADDRESS/);
});

t.test('the admin server refuses every mutating method on every route, over TCP in the node, from a pod on the metrics port, and on the unix socket', async (t) => {
  const routes = await adminRoutes();
  t.ok(routes.includes('/metrics') && routes.includes('/config_dump/certs') && routes.includes('/config_dump/policies'), `enumerated ${routes.length} routes: ${routes.join(' ')}`);
  const stateBefore = (await unix('GET', '/config_dump/state')).text;
  const mutating = (host: string, port: number, label: string): Scenario[] => {
    const out: Scenario[] = [];
    for (const r of routes) {
      for (const m of MUTATING) {
        out.push({ kind: 'raw', name: `${label} ${m} ${r}`, host, port, waitMs: 3000, send: `${m} ${r} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"logLevel":"x"}\n` });
      }
      // And a WebSocket upgrade with a mutating method (the tap is the only upgrade route).
      out.push({ kind: 'raw', name: `${label} POST upgrade ${r}`, host, port, waitMs: 3000, send: `POST ${r} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n` });
    }
    return out;
  };
  const inNode = mutating('127.0.0.1', 15020, 'admin');
  const fromPod = mutating(n1.ip, METRICS_PORT, 'metrics');
  const results = new Map([
    ...await runScenarios((cmd, args) => tb.spawn(n1.netns, cmd, args), inNode),
    ...await runScenarios((cmd, args) => tb.spawn(tb.pod('app').netns, cmd, args), fromPod),
  ]);
  const scenarios = [...inNode, ...fromPod];
  let refusedTcp = 0;
  for (const s of scenarios) {
    const status = /^HTTP\/1\.1 (\d+)/.exec(results.get(s.name)?.response ?? '')?.[1];
    // Upgrades are answered by the upgrade handler: only admin's /tap exists, and it takes GET only.
    const ok = s.name.includes('POST upgrade') ? status !== '101' : status === '405';
    if (ok) refusedTcp++;
    else t.fail(`${s.name}: answered ${status ?? results.get(s.name)?.error}`);
  }
  t.equal(refusedTcp, scenarios.length, `all ${scenarios.length} mutating requests over TCP were refused`);
  let refusedUnix = 0;
  for (const r of routes) {
    for (const m of MUTATING) {
      const a = await unix(m, r, '{"logLevel":"debug"}');
      if (a.status === 405 && a.text.includes('WEFT_ERR_ADMIN_METHOD')) refusedUnix++;
      else t.fail(`${m} ${r} on the unix socket: ${a.status} ${a.text.slice(0, 200)}`);
    }
  }
  t.equal(refusedUnix, routes.length * MUTATING.length, `and all ${routes.length * MUTATING.length} on the unix socket: no mutating admin call exists at all`);
  t.equal((await unix('GET', '/config_dump/state')).text, stateBefore, 'the agent\'s state is unchanged');
  const metrics = (await unix('GET', '/metrics')).text;
  const counted = Number(/^weft_rejected_input_total\{reason="admin_method"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  t.ok(counted >= refusedUnix + routes.length * MUTATING.length, `weft_rejected_input_total{reason="admin_method"} counted them (${counted})`);
  const countedMetrics = Number(/^weft_rejected_input_total\{reason="metrics_method"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  t.equal(countedMetrics, routes.length * MUTATING.length, `and {reason="metrics_method"} the metrics port's (${countedMetrics})`);
});

t.test('the dashboard refuses every mutating method on every route, and everything without its token', async (t) => {
  const url = new URL(mesh.dashboardUrl() ?? '');
  const routes = ['/', '/index.html', '/app.js', '/style.css', '/healthz', '/api/overview', '/api/workload', '/api/topology', '/api/series', '/api/policies', '/api/tap', '/api/nope'];
  const ask = (method: string, path: string, token: boolean): Promise<number> => new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers: { ...(token ? { authorization: `Bearer ${dashboardToken}` } : {}), ...(method === 'GET' ? {} : { 'content-length': '2' }) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === undefined ? reject(err) : resolve(-1)));
    req.end(method === 'GET' ? undefined : '{}');
  });
  let refused = 0;
  for (const r of routes) {
    for (const m of MUTATING) {
      const s = await ask(m, r, true);
      if (s === 405) refused++;
      else t.fail(`${m} ${r} with the token: ${s}`);
    }
  }
  t.equal(refused, routes.length * MUTATING.length, `all ${routes.length * MUTATING.length} mutating requests refused (405), even with the token`);
  for (const r of routes.filter((x) => x !== '/healthz')) t.equal(await ask('GET', r, false), 401, `GET ${r} without the token: 401`);
  t.equal(await ask('GET', '/api/overview', true), 200, 'GET with the token reads');
});

t.test('secrets appear in no config dump, no read-only API and no log', async (t) => {
  // Give the logs something to say about credentials: a refused CSR and a stream hello with a
  // secret-looking wrong token, and a good CSR (the agents have made theirs already).
  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  const signer = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: await mesh.caPem(), token: () => wrong });
  await t.rejects(signer.sign((await generateCsr('spiffe://cluster.local/ns/demo/sa/app')).csrPem), { code: 'WEFT_ERR_CSR_UNAUTHENTICATED' }, 'a CSR with a wrong token is refused');
  signer.close();
  const r = await runScenarios((cmd, args) => tb.spawn(tb.pod('app').netns, cmd, args), [{ kind: 'raw', name: 'echo', host: tb.pod('peer').ip, port: 8080, send: 'ECHO\nhello\n', waitMs: 1000 }]);
  t.ok(r.has('echo'), 'some traffic went through (access log lines)');

  const caKey = await readFile(join(mesh.caDir, 'ca.key'), 'utf8');
  const keyBody = caKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('');
  const secrets: Array<[string, string]> = [
    ['the CA private key', keyBody.slice(0, 48)],
    ['the dashboard token', dashboardToken],
    ['the wrong token a client sent', wrong],
    ...[...mesh.tokens].map(([n, tok]): [string, string] => [`node ${n}'s bootstrap token`, tok]),
  ];
  const url = new URL(mesh.dashboardUrl() ?? '');
  const dash = async (path: string): Promise<string> => (await fetch(new URL(path, url), { headers: { authorization: `Bearer ${dashboardToken}` } })).text();
  const places: Array<[string, string]> = [
    ['the full config dump', (await unix('GET', '/config_dump')).text],
    ['/metrics', (await unix('GET', '/metrics')).text],
    ['/stats, /edges, /top', (await unix('GET', '/stats')).text + (await unix('GET', '/edges')).text + (await unix('GET', '/top')).text],
    ['the dashboard APIs', (await dash('/api/overview')) + (await dash('/api/topology')) + (await dash('/api/policies')) + (await dash('/api/workload?key=demo/app')) + (await dash('/api/series'))],
    ['the dashboard page', (await dash('/')) + (await dash('/app.js'))],
    ['control\'s log', mesh.controlLog()],
    ['the agent\'s log (debug, with access log)', mesh.agentLog('n1')],
  ];
  for (const [where, text] of places) {
    t.ok(text.length > 0, `${where}: read ${text.length} bytes`);
    t.notMatch(text, /PRIVATE KEY/, `${where}: no private key`);
    for (const [what, secret] of secrets) t.notOk(text.includes(secret), `${where}: not ${what}`);
  }
  t.match(mesh.controlLog(), /"dashboardToken":"\(set\)"/, 'control says the dashboard token is set, not what it is');
  t.match((await unix('GET', '/config_dump/certs')).text, /spiffe:\/\/cluster\.local\/ns\/demo\/sa\/app/, 'the dump does describe the workload certificates, so the search looked at real content');
});
