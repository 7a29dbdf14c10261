// The dashboard in headless Chromium against a running testbed mesh with traffic: the overview
// lists the meshed workloads with non-zero rates and the success rate that injected failures
// make; the topology draws the observed edges; the tap view streams events as they happen and
// its filters select them; a DENY policy's denied edge shows in the policies view. Screenshots
// go to test-artifacts/dashboard/.
import t from 'tap';
import http from 'node:http';
import https from 'node:https';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { tcpClient } from './helpers.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const ID = (sa: string): string => `spiffe://cluster.local/ns/demo/sa/${sa}`;

const tb = await withTestbed(t, {
  name: 'dash-browser',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const base: ClusterSpec = { meshedNamespaces: ['demo'] };
const mesh = await Mesh.start(tb, {
  cluster: base,
  // Summaries every second so the test waits little for control to hear of the traffic.
  agentEnv: { WEFT_SUMMARY_INTERVAL_MS: '1000' },
  controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);
const server = tb.pod('server').ip;

await mesh.waitUntil(() => mesh.dashboardUrl() !== null, 10_000, 'control to log the dashboard URL');
const dashboard = mesh.dashboardUrl() as string;
// (No assertion at the top level: tap would end the root test while we still await.)
if (!/^http:\/\/127\.0\.0\.1:\d+\/$/.test(dashboard)) throw new Error(`the dashboard should listen on loopback, logged ${dashboard}`);

await mkdir(ARTIFACTS, { recursive: true });
const profile = await mkdtemp(join(tmpdir(), 'dash-chromium-'));
t.teardown(() => rm(profile, { recursive: true, force: true }));
const browser: BrowserContext = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1366, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
t.teardown(() => browser.close());
const page: Page = browser.pages()[0] ?? (await browser.newPage());
const external: string[] = [];
// Everything the page loads must come from the dashboard itself.
page.on('request', (r) => {
  if (!r.url().startsWith(dashboard.replace(/\/$/, '')) && !r.url().startsWith('data:')) external.push(r.url());
});
const pageErrors: string[] = [];
page.on('pageerror', (e) => pageErrors.push(e.message));

/** Polls the page until `pred` holds on the text it reads; the last text is in the failure. */
async function until(what: string, read: () => Promise<string | null>, pred: (text: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    last = await read().catch(() => null);
    if (last !== null && pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
const cell = (row: string, col: string): Promise<string | null> => page.locator(`${row} td[data-col="${col}"]`).first().textContent({ timeout: 2000 });

// Known traffic: 6 connections that complete, 2 to a port nobody listens on (they fail in the
// mesh, at the destination's agent). Success rate for demo/server: 6 of 8.
t.test('overview: meshed workloads with rates and the success rate under failures', async (t) => {
  const ok = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '1000', '--connections', '6']);
  t.ok(ok.ok, 'six connections went through');
  for (let i = 0; i < 2; i++) {
    const r = await tcpClient(mesh, 'client', server, 9999, 'echo', ['--bytes', '10']).catch((err: unknown) => ({ ok: false, errors: [String(err)] }));
    t.notOk(r.ok, 'a connection to a closed port fails');
  }
  await page.goto(dashboard);
  await page.selectOption('#window', '900');
  const row = 'tr[data-workload="demo/server"]';
  const success = await until('demo/server success rate 75 %', () => cell(row, 'success'), (s) => s.includes('75'));
  t.match(success, /75(\.0)? %/, 'success rate of demo/server is 6/8');
  t.match(await cell(row, 'success'), /▼/, 'marked unhealthy in text too');
  t.equal(await page.locator(`${row} td[data-col="success"] .health.bad`).count(), 1, 'and coloured as unhealthy');
  const rate = await cell(row, 'rate');
  t.match(rate, /conn\/s/, 'TCP-only rows count connections');
  t.ok(Number.parseFloat(rate ?? '0') > 0, `non-zero rate for demo/server (${rate})`);
  const client = 'tr[data-workload="demo/client"]';
  await until('demo/client outbound rate', () => cell(client, 'out'), (s) => Number.parseFloat(s) > 0);
  t.ok(await page.locator('[data-namespace="demo"]').isVisible(), 'the demo namespace is listed');
  // Sorting by success puts the unhealthy server after the idle-but-known client (nulls last).
  await page.click('button[data-sort="success"]');
  t.equal(await page.locator('th:has(button[data-sort="success"])').getAttribute('aria-sort'), 'descending', 'the header says how it is sorted');
  // Keyboard: the sort buttons and links are reachable with Tab and show a focus ring.
  await page.keyboard.press('Tab');
  t.ok(await page.evaluate('document.activeElement !== null && document.activeElement !== document.body'), 'Tab moves focus onto a control');
  await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
});

t.test('workload page: inbound edge, identities and certificates', async (t) => {
  await page.goto(`${dashboard}#/workload/demo/server`);
  await until('inbound edge from demo/client', () => page.locator('tr[data-peer="demo/client"] td[data-col="peer"]').first().textContent({ timeout: 2000 }), (s) => s.includes('demo/client'));
  const body = await page.locator('main').textContent() ?? '';
  t.match(body, ID('server'), 'the workload identity is shown');
  await until('the server certificate', () => page.locator(`tr[data-cert="${ID('server')}"]`).first().textContent({ timeout: 2000 }), (s) => s.includes('valid'));
  await page.screenshot({ path: join(ARTIFACTS, 'workload.png'), fullPage: true });
});

t.test('topology: the observed edge between client and server', async (t) => {
  await page.goto(`${dashboard}#/topology`);
  await page.selectOption('#window', '900');
  const edge = page.locator('svg.topology g.edge[data-edge="demo/client->demo/server"]');
  await edge.waitFor({ timeout: 30_000 });
  t.match(await edge.locator('title').textContent(), /demo\/client to demo\/server: .*success 75/, 'the edge carries its rate and success');
  t.equal(await page.locator('svg.topology [data-node="demo/client"]').count(), 1, 'client node');
  t.equal(await page.locator('svg.topology [data-node="demo/server"]').count(), 1, 'server node');
  const all = await page.locator('svg.topology g.edge').evaluateAll((els) => els.map((e) => e.getAttribute('data-edge')));
  t.same(all, ['demo/client->demo/server'], 'and no other edge');
  await page.screenshot({ path: join(ARTIFACTS, 'topology.png'), fullPage: true });
});

t.test('live tap: events as they happen, and the filters select them', async (t) => {
  await page.goto(`${dashboard}#/tap`);
  // A filter that matches nothing: traffic flows, no row appears.
  await page.fill('#tap-workload', 'nobody');
  await page.click('#tap-start');
  await until('the tap to start', () => page.locator('#tap-status').textContent(), (s) => s.includes('Tapping 2 agent'));
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '500', '--connections', '2'])).ok);
  // The events of that traffic would have arrived by the time a second run's do (same path).
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await page.locator('table.tap tbody tr').count(), 0, 'workload=nobody shows no events');
  // Now the server's events.
  await page.fill('#tap-workload', 'server');
  await page.fill('#tap-namespace', 'demo');
  await page.click('#tap-start');
  await until('the tap to restart', () => page.locator('#tap-status').textContent(), (s) => s.includes('Tapping 2 agent'));
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '500', '--connections', '3'])).ok);
  await until('tap rows', async () => String(await page.locator('table.tap tbody tr[data-destination="demo/server"]').count()), (n) => Number(n) >= 3);
  const text = await page.locator('table.tap tbody').textContent() ?? '';
  t.match(text, /demo\/client/, 'events name the client');
  t.match(text, /n1|n2/, 'and the agent that saw them');
  // The closed port shows up as a failed event.
  await tcpClient(mesh, 'client', server, 9999, 'echo', ['--bytes', '10']).catch(() => undefined);
  await until('a failed event', async () => String(await page.locator('table.tap tbody tr.failed').count()), (n) => Number(n) >= 1);
  await page.screenshot({ path: join(ARTIFACTS, 'tap.png'), fullPage: true });
  await page.click('#tap-stop');
  await until('the tap to stop', () => page.locator('#tap-status').textContent(), (s) => s.includes('Stopped'));
});

/** Control's count of cross-site dashboard refusals, from GET /metrics on its API (the unix socket, TLS). */
async function crossSiteRefusals(): Promise<number> {
  const ca = await mesh.caPem();
  const text = await new Promise<string>((resolve, reject) => {
    https.get({ socketPath: mesh.controlSocket, path: '/metrics', ca, servername: 'weft-control.weft-system.svc' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return Number(/^weft_rejected_input_total\{reason="dashboard_cross_site"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

t.test('cross-site: a page on another origin cannot open the live tap; the dashboard\'s own page (127.0.0.1 or localhost) can', async (t) => {
  // The attacker: any page the operator has open, here one served from another loopback port.
  const evilServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>elsewhere</title><p>an unrelated site</p>');
  });
  await new Promise<void>((r) => evilServer.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { evilServer.closeAllConnections(); evilServer.close(() => r()); }));
  const evilPort = (evilServer.address() as { port: number }).port;
  const tapWs = `${dashboard.replace(/^http/, 'ws')}api/tap`;
  const tryTap = (p: Page, url: string): Promise<string> => p.evaluate((u) => new Promise<string>((resolve) => {
    const ws = new WebSocket(u);
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('refused');
    setTimeout(() => resolve('timeout'), 10_000);
  }), url);
  const other = await browser.newPage();
  t.teardown(() => other.close());
  const refusedBefore = await crossSiteRefusals();
  await other.goto(`http://127.0.0.1:${evilPort}/`);
  t.equal(await tryTap(other, tapWs), 'refused', `a page on http://127.0.0.1:${evilPort} opening ${tapWs} is refused`);
  // Same origin as the browser sees it: the dashboard page itself, under both loopback names.
  await other.goto(dashboard);
  t.equal(await tryTap(other, tapWs), 'open', 'the dashboard\'s own page opens it');
  const viaLocalhost = dashboard.replace('127.0.0.1', 'localhost');
  await other.goto(`${viaLocalhost}#/tap`);
  t.equal(await tryTap(other, `${viaLocalhost.replace(/^http/, 'ws')}api/tap`), 'open', 'and so does the page at http://localhost:PORT (kubectl port-forward)');
  await other.click('#tap-start');
  await until('the tap to start under localhost', () => other.locator('#tap-status').textContent(), (s) => s.includes('Tapping 2 agent'));
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '100'])).ok);
  await until('tap rows under localhost', async () => String(await other.locator('table.tap tbody tr').count()), (n) => Number(n) >= 1);
  t.pass('the page under localhost shows live tap events');
  t.equal(await crossSiteRefusals() - refusedBefore, 1, 'control counted the one refusal: weft_rejected_input_total{reason="dashboard_cross_site"}');
});

t.test('policies: a DENY policy and the edge it denied', async (t) => {
  const deny = { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-client', namespace: 'demo' }, spec: { selector: { matchLabels: { app: 'server' } }, action: 'DENY', rules: [{ from: [{ identities: [ID('client')] }] }] } };
  await mesh.writeCluster({ ...base, extraObjects: [deny] });
  await mesh.waitUntil(async () => {
    const p = (await mesh.admin('n2', '/config_dump/policies')).body as { policies: { workloads: Record<string, { deny: { policy: string }[] }> } };
    return p.policies.workloads['demo/server']?.deny.some((d) => d.policy === 'demo/deny-client') ?? false;
  }, 20_000, 'n2 to enforce demo/deny-client');
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '100']).catch(() => ({ ok: false }));
  t.notOk(r.ok, 'the denied connection is refused');
  await page.goto(`${dashboard}#/policies`);
  const section = page.locator('section[data-policy="demo/deny-client"]');
  await section.waitFor({ timeout: 30_000 });
  // The same edge may also have a 'closed' row: a connection still open from an earlier test is
  // closed when the DENY arrives, and counted under the policy too. This test wants the refusal.
  const denied = section.locator(`tr[data-denied="${ID('client')}->demo/server"][data-kind="denied"]`);
  await denied.waitFor({ timeout: 30_000 });
  t.match(await denied.textContent(), /denied.*demo\/client.*demo\/server/, 'the denied edge is listed under the policy');
  t.match(await section.textContent(), /Enforced on: demo\/server/, 'with the workload that enforces it');
  await until('a recent denial', () => page.locator('tr[data-recent="demo/deny-client"]').first().textContent({ timeout: 2000 }), (s) => s.includes('denied'));
  await page.screenshot({ path: join(ARTIFACTS, 'policies.png'), fullPage: true });
});

t.test('nothing external was loaded and the page raised no errors', async (t) => {
  t.same(external, [], 'only the dashboard origin');
  t.same(pageErrors, [], 'no script errors');
});
