// Policy conformance (issue 17): an attacker in a meshed pod tries every way we know to reach a
// path a DENY covers — path tricks the app server would undo (double slashes, escaped letters,
// dot segments, trailing slash, parameters, case), ambiguous encodings (encoded slash and
// backslash, backslash, %00, overlong UTF-8), other request shapes (absolute form, a Host that
// disagrees with :authority, HTTP/2 prior knowledge) and ways out of HTTP (WebSocket, h2c upgrade
// and h2c smuggling, CONNECT with a request inside the tunnel) — against a pod on its own node and
// one across nodes, in the redirect mode of WEFT_TEST_REDIRECT_MODE (ebpf-pol-conformance runs
// this file in ebpf mode).
//
// Oracle: the app (tests/apps/path-server.ts) reports every target it receives, each request
// carries a row marker in its query, and for every row: the request is refused, or it reaches the
// app only under a path (1) in normal form by this file's own check (WHATWG URL's dot-segment
// resolution plus the RFC 3986 rules written below) and (2) not denied by the policy as this file
// reads it — and where a row names the path the app must get, exactly that one. The agent's
// normaliser and matcher are not used here.
//
// Clients are real: curl (HTTP/1.1, absolute form, --http2-prior-knowledge, --http2 for the h2c
// upgrade, -p -x for CONNECT), node:http2 and the `ws` library (tests/apps/path-client.ts), and
// raw bytes only for targets no client sends.
import t from 'tap';
import { appendFileSync } from 'node:fs';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import type { PathRequest, PathResult } from '../apps/path-client.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';

const mode = testRedirectMode();
const tb = await withTestbed(t, {
  name: testbedName('pol-conformance', mode),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'near', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'far', namespace: 'demo' }] },
  ],
});
const DENY = {
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'demo' },
  spec: {
    selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['near', 'far'] }] },
    action: 'DENY',
    rules: [{ to: [{ paths: [{ prefix: '/admin' }, { exact: '/secret' }, { prefix: '/private', ignoreCase: true }] }] }],
  },
};
const mesh = await Mesh.start(tb, {
  redirectMode: mode,
  cluster: { meshedNamespaces: ['demo'], extraObjects: [DENY] },
  controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
});
t.teardown(() => mesh.stop());
const apps: Record<string, RunningApp> = {
  near: await mesh.startApp('near', 'path-server.ts', ['--port', '8080']),
  far: await mesh.startApp('far', 'path-server.ts', ['--port', '8080']),
};
await mesh.waitUntil(async () => {
  const body = (await mesh.admin('n1', '/config_dump/policies')).body as { policies: { workloads: Record<string, { deny: unknown[] }> } };
  const b2 = (await mesh.admin('n2', '/config_dump/policies')).body as { policies: { workloads: Record<string, { deny: unknown[] }> } };
  return (body.policies.workloads['demo/near']?.deny.length ?? 0) > 0 && (b2.policies.workloads['demo/far']?.deny.length ?? 0) > 0;
}, 30_000, 'both agents to enforce demo/deny-admin');

// ---- the policy and normal form as this file reads them (independent of the agent) ----

/** docs/policy.md: query ignored, ";params" stripped from segments, exact takes one trailing "/", ignoreCase lower-cases. */
function deniedByPolicy(target: string): boolean {
  const path = target.split('?')[0].split('/').map((seg) => seg.split(';')[0]).join('/');
  return path.startsWith('/admin') || path === '/secret' || path === '/secret/' || path.toLowerCase().startsWith('/private');
}

/** RFC 3986 §2.3 unreserved characters, which a normal path never carries escaped. */
const ESCAPED_UNRESERVED = /%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E)/i;
function isNormal(target: string): boolean {
  const path = target.split('?')[0];
  if (path.includes('//') || path.includes('\\') || ESCAPED_UNRESERVED.test(path) || /%[0-9A-F]?[a-f]/.test(path)) return false;
  // WHATWG URL resolves "." and ".." (and their escaped forms): a normal path comes back unchanged.
  return new URL(`http://h${path}`).pathname === path;
}

// ---- the table ----

type Send =
  | { via: 'curl'; target: string; h2?: 'prior-knowledge' | 'upgrade'; headers?: string[] }
  | { via: 'curl-connect'; inner: string }
  | { via: 'client'; req: Omit<Extract<PathRequest, { kind: 'h2' }>, 'name'> | Omit<Extract<PathRequest, { kind: 'ws' }>, 'name'> | Omit<Extract<PathRequest, { kind: 'h2c-smuggle' }>, 'name'> | Omit<Extract<PathRequest, { kind: 'raw' }>, 'name'> };

/** refused: by policy (403), as an ambiguous path (400 WEFT_ERR_HTTP_PATH), or any way (status ≥ 400 or the connection). */
type Expect = { refused: 'policy' | 'path' | 'any' } | { reaches: string };

interface Row {
  id: string;
  proves: string;
  send: Send;
  expect: Expect;
}

const ROWS: Row[] = [
  // Baselines: the policy works and an allowed path is delivered untouched.
  { id: 'ok', proves: 'an allowed path reaches the app as sent', send: { via: 'curl', target: '/ok/a' }, expect: { reaches: '/ok/a' } },
  { id: 'admin', proves: 'the prefix DENY refuses /admin/x', send: { via: 'curl', target: '/admin/x' }, expect: { refused: 'policy' } },
  { id: 'secret', proves: 'the exact DENY refuses /secret (query ignored)', send: { via: 'curl', target: '/secret?a=1' }, expect: { refused: 'policy' } },
  // Evasions the app server would undo.
  { id: 'dslash', proves: '//admin/x is /admin/x: slashes merged before policy', send: { via: 'curl', target: '//admin/x' }, expect: { refused: 'policy' } },
  { id: 'escaped-letter', proves: '/%61dmin/x is /admin/x: escaped unreserved decoded', send: { via: 'curl', target: '/%61dmin/x' }, expect: { refused: 'policy' } },
  { id: 'dot', proves: '/./admin/x is /admin/x: "." removed', send: { via: 'curl', target: '/./admin/x' }, expect: { refused: 'policy' } },
  { id: 'dotdot', proves: '/x/../admin/x is /admin/x: ".." resolved', send: { via: 'curl', target: '/x/../admin/x' }, expect: { refused: 'policy' } },
  { id: 'escaped-dotdot', proves: '/ok/%2E%2e/admin is /admin: escaped dots resolved after decoding', send: { via: 'curl', target: '/ok/%2E%2e/admin' }, expect: { refused: 'policy' } },
  { id: 'trailing-slash', proves: 'exact /secret also refuses /secret/', send: { via: 'curl', target: '/secret/' }, expect: { refused: 'policy' } },
  { id: 'params', proves: 'exact /secret also refuses /secret;x (segment parameters)', send: { via: 'curl', target: '/secret;jsessionid=1' }, expect: { refused: 'policy' } },
  { id: 'ignore-case', proves: 'an ignoreCase prefix refuses /PriVate/x', send: { via: 'curl', target: '/PriVate/x' }, expect: { refused: 'policy' } },
  { id: 'case', proves: 'paths are case-sensitive: /ADMIN/x is another path, and the app gets exactly /ADMIN/x', send: { via: 'curl', target: '/ADMIN/x' }, expect: { reaches: '/ADMIN/x' } },
  { id: 'forwarded-normal', proves: 'the app gets the normalised path policy saw, not the raw one', send: { via: 'curl', target: '/ok//a/./b/../c' }, expect: { reaches: '/ok/a/c' } },
  { id: 'forwarded-decoded', proves: 'escaped unreserved characters arrive decoded, others upper-cased', send: { via: 'curl', target: '/%6Fk/%7euser/%c3%a9' }, expect: { reaches: '/ok/~user/%C3%A9' } },
  // Ambiguous encodings: refused, 400 WEFT_ERR_HTTP_PATH.
  { id: 'encoded-slash', proves: '%2F is refused (servers split on it or not)', send: { via: 'curl', target: '/ok%2F..%2Fadmin/x' }, expect: { refused: 'path' } },
  { id: 'encoded-slash-lower', proves: '%2f is refused too', send: { via: 'curl', target: '/admin%2fx' }, expect: { refused: 'path' } },
  { id: 'encoded-backslash', proves: '%5C is refused', send: { via: 'curl', target: '/ok%5C..%5Cadmin' }, expect: { refused: 'path' } },
  { id: 'backslash', proves: 'a raw backslash is refused', send: { via: 'curl', target: '/ok\\..\\admin' }, expect: { refused: 'path' } },
  { id: 'nul', proves: '%00 is refused', send: { via: 'curl', target: '/admin%00.html' }, expect: { refused: 'path' } },
  { id: 'nul-dots', proves: '%00 before a dot segment is refused', send: { via: 'curl', target: '/ok%00/../admin' }, expect: { refused: 'path' } },
  { id: 'overlong', proves: 'overlong UTF-8 for "/" (%C0%AF) is refused', send: { via: 'curl', target: '/ok%C0%AF..%C0%AFadmin' }, expect: { refused: 'path' } },
  { id: 'overlong-dot', proves: 'overlong UTF-8 for "." (%C0%AE) is refused', send: { via: 'curl', target: '/ok/%C0%AE%C0%AE/admin' }, expect: { refused: 'path' } },
  { id: 'dot-params', proves: '"..;" (".." to Tomcat) is refused', send: { via: 'curl', target: '/ok/..;/admin' }, expect: { refused: 'path' } },
  // Other request shapes.
  { id: 'absolute', proves: 'absolute-form is normalised like origin-form', send: { via: 'curl', target: 'http://other.example//admin/x' }, expect: { refused: 'policy' } },
  { id: 'absolute-ok', proves: 'absolute-form reaches the app as origin-form', send: { via: 'curl', target: 'http://other.example/ok/./abs' }, expect: { reaches: '/ok/abs' } },
  { id: 'absolute-host', proves: 'a Host that disagrees with an absolute target changes nothing', send: { via: 'curl', target: 'http://a.example/x/../admin', headers: ['Host: b.example'] }, expect: { refused: 'policy' } },
  { id: 'h2-curl', proves: 'HTTP/2 prior knowledge (curl): //admin/x refused', send: { via: 'curl', target: '//admin/x', h2: 'prior-knowledge' }, expect: { refused: 'policy' } },
  { id: 'h2-curl-ok', proves: 'HTTP/2 prior knowledge (curl): the app gets the normalised :path', send: { via: 'curl', target: '/ok/./h2//x', h2: 'prior-knowledge' }, expect: { reaches: '/ok/h2/x' } },
  { id: 'h2-escaped', proves: 'HTTP/2 (node:http2): /%61dmin refused', send: { via: 'client', req: { kind: 'h2', path: '/%61dmin' } }, expect: { refused: 'policy' } },
  { id: 'h2-dotdot', proves: 'HTTP/2 (node:http2): /x/../admin refused', send: { via: 'client', req: { kind: 'h2', path: '/x/../admin' } }, expect: { refused: 'policy' } },
  { id: 'h2-encoded-slash', proves: 'HTTP/2 (node:http2): %2F refused with 400', send: { via: 'client', req: { kind: 'h2', path: '/admin%2Fx' } }, expect: { refused: 'path' } },
  { id: 'h2-authority', proves: 'HTTP/2: a host header that disagrees with :authority changes nothing', send: { via: 'client', req: { kind: 'h2', path: '/ok/../admin', headers: { host: 'elsewhere.example' } } }, expect: { refused: 'policy' } },
  { id: 'h2-absolute-path', proves: 'HTTP/2: an absolute-form :path is refused (reset by nghttp2) or normalised like origin-form', send: { via: 'client', req: { kind: 'h2', path: 'http://x.example//admin' } }, expect: { refused: 'any' } },
  // Ways out of HTTP: upgrade heads are normalised and decided like any request, on both sides.
  { id: 'ws-admin', proves: 'a WebSocket upgrade to //admin/ws is refused', send: { via: 'client', req: { kind: 'ws', path: '//admin/ws' } }, expect: { refused: 'any' } },
  { id: 'ws-dotdot', proves: 'a WebSocket upgrade to /x/../admin is refused', send: { via: 'client', req: { kind: 'ws', path: '/x/../admin' } }, expect: { refused: 'any' } },
  { id: 'ws-ok', proves: 'a WebSocket upgrade reaches the app under the normalised path policy saw', send: { via: 'client', req: { kind: 'ws', path: '/ok//./ws' } }, expect: { reaches: '/ok/ws' } },
  { id: 'ws-raw-encoded', proves: 'an upgrade head with %2F is refused 400 like any request', send: { via: 'client', req: { kind: 'raw', send: 'GET /admin%2Fws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' } }, expect: { refused: 'path' } },
  // h2c upgrades are served as the HTTP/1.1 requests they also are: no upgrade through the mesh.
  { id: 'h2c-upgrade', proves: 'an h2c upgrade (curl --http2) to //admin/x is refused by policy', send: { via: 'curl', target: '//admin/x', h2: 'upgrade' }, expect: { refused: 'policy' } },
  { id: 'h2c-upgrade-ok', proves: 'an h2c upgrade is answered as HTTP/1.1 under the normalised path', send: { via: 'curl', target: '/ok/./h2c', h2: 'upgrade' }, expect: { reaches: '/ok/h2c' } },
  { id: 'h2c-smuggle', proves: 'h2c smuggling: the upgrade is never granted, so no HTTP/2 stream can ask for /admin', send: { via: 'client', req: { kind: 'h2c-smuggle', path: '/ok/h2c', inner: '/admin/smuggled' } }, expect: { reaches: '/ok/h2c' } },
  // A CONNECT tunnel carries requests no agent sees: it meets the path DENY as opaque TCP does.
  { id: 'connect', proves: 'CONNECT, then GET /admin inside the tunnel: the CONNECT is refused 403, /admin never reaches the app', send: { via: 'curl-connect', inner: '/admin/tunnel' }, expect: { refused: 'policy' } },
  { id: 'connect-ok', proves: 'CONNECT is refused whatever it would carry (the agent cannot see inside)', send: { via: 'curl-connect', inner: '/ok/tunnel' }, expect: { refused: 'policy' } },
];

function withMarker(target: string, id: string): string {
  return `${target}${target.includes('?') ? '&' : '?'}row=${id}`;
}

interface Outcome {
  status: number;
  weftError?: string;
  error?: string;
}

async function curl(host: string, row: Row, send: Extract<Send, { via: 'curl' | 'curl-connect' }>): Promise<Outcome> {
  const args = ['-sS', '--max-time', '10', '-o', '/dev/null', '-D', '-', '-w', '\nSTATUS %{http_code} CONNECT %{http_connect}\n'];
  if (send.via === 'curl-connect') {
    // -p: CONNECT to the "proxy" (the app's address, captured by the mesh), then the request inside.
    args.push('-p', '-x', `http://${host}:8080`, `http://${host}:8080${withMarker(send.inner, row.id)}`);
  } else {
    if (send.h2 === 'prior-knowledge') args.push('--http2-prior-knowledge');
    if (send.h2 === 'upgrade') args.push('--http2');
    for (const h of send.headers ?? []) args.push('-H', h);
    args.push('--request-target', withMarker(send.target, row.id), `http://${host}:8080/`);
  }
  const r = await tb.exec(tb.pod('client').netns, 'curl', args);
  const m = /STATUS (\d+) CONNECT (\d+)/.exec(r.stdout);
  const we = [...r.stdout.matchAll(/^weft-error: *(\S+)/gim)].map((x) => x[1]).at(-1);
  const status = m === null ? 0 : send.via === 'curl-connect' && m[2] !== '200' && m[2] !== '000' ? Number(m[2]) : Number(m[1]);
  return { status, ...(we === undefined ? {} : { weftError: we }), ...(r.code !== 0 ? { error: `curl exit ${r.code}: ${r.stderr.trim()}` } : {}) };
}

async function clientBatch(host: string, rows: Row[]): Promise<Map<string, Outcome>> {
  const reqs: PathRequest[] = [];
  for (const row of rows) {
    if (row.send.via !== 'client') continue;
    const q = row.send.req;
    if (q.kind === 'raw') reqs.push({ ...q, name: row.id, send: q.send.replace(/ HTTP\/1\.1\r\n/, `?row=${row.id} HTTP/1.1\r\n`) });
    else if (q.kind === 'h2c-smuggle') reqs.push({ ...q, name: row.id, path: withMarker(q.path, row.id), inner: withMarker(q.inner, row.id) });
    else reqs.push({ ...q, name: row.id, path: withMarker(q.path, row.id) });
  }
  const r = await mesh.runApp('client', 'path-client.ts', ['--host', host, '--port', '8080', '--requests', Buffer.from(JSON.stringify(reqs)).toString('base64')], 120_000);
  const out = new Map<string, Outcome>();
  for (const l of r.stdout as unknown as PathResult[]) {
    if ((l as { ready?: boolean }).ready === true) continue;
    out.set(l.name, { status: l.status ?? 0, ...(l.weftError === undefined ? {} : { weftError: l.weftError }), ...(l.error === undefined ? {} : { error: l.error }) });
  }
  return out;
}

const reached = (app: RunningApp, id: string): Array<{ target: string; kind: string; tunneled: boolean }> =>
  (app.lines as Array<{ event?: string; target: string; kind: string; tunneled: boolean }>).filter((l) => l.event === 'request' && new URLSearchParams(l.target.split('?')[1] ?? '').get('row') === id);

// WEFT_CONFORMANCE_SUMMARY=<file>: one line per row and destination with its outcome (for reports).
const SUMMARY = process.env.WEFT_CONFORMANCE_SUMMARY ?? '';

for (const dest of ['near', 'far'] as const) {
  const where = dest === 'near' ? 'same node' : 'across nodes';
  // One parent per destination: every row is sent first (one client process for the node
  // clients, curl for the rest), then each row is judged in a subtest of its own.
  t.test(`${mode}, ${where}`, async (t) => {
    const host = tb.pod(dest).ip;
    const outcomes = await clientBatch(host, ROWS);
    for (const row of ROWS) if (row.send.via !== 'client') outcomes.set(row.id, await curl(host, row, row.send));
    // The app reports a request before it answers; give its last lines a moment to arrive.
    await new Promise((r) => setTimeout(r, 1000));

    for (const row of ROWS) {
      const expect = row.expect;
      void t.test(`${mode}, ${where}: ${row.id} — ${row.proves}`, async (t) => {
        const o = outcomes.get(row.id);
        t.ok(o !== undefined, 'the client reported an outcome');
        if (o === undefined) return;
        const seen = reached(apps[dest], row.id);
        // Whatever the row: nothing denied, and nothing not normal, ever reaches the app.
        for (const s of seen) {
          t.notOk(deniedByPolicy(s.target), `the app never receives a denied path (got ${JSON.stringify(s.target)}${s.tunneled ? ' inside a tunnel' : ''})`);
          if (s.kind !== 'connect') t.ok(isNormal(s.target), `the app receives only normal paths (got ${JSON.stringify(s.target)})`);
        }
        const refused = o.status === 0 || o.status >= 400;
        const marked = seen.filter((s) => s.kind !== 'connect');
        let verdict: string;
        if ('refused' in expect) {
          t.ok(refused, `refused (status ${o.status}${o.error ? `, ${o.error}` : ''})`);
          t.same(marked.map((s) => s.target), [], 'and the app saw nothing of it');
          if (expect.refused === 'policy') t.match(o, { status: 403 }, '403 from the policy');
          if (expect.refused === 'policy' && o.weftError !== undefined) t.equal(o.weftError, 'WEFT_ERR_POLICY_DENIED');
          if (expect.refused === 'path') t.match(o, { status: 400, weftError: 'WEFT_ERR_HTTP_PATH' }, '400 WEFT_ERR_HTTP_PATH');
          verdict = `refused ${o.status || o.error}`;
        } else {
          t.ok((o.status >= 200 && o.status < 300) || o.status === 101, `answered by the app (status ${o.status}${o.error ? `, ${o.error}` : ''})`);
          t.same(marked.map((s) => s.target.split('?')[0]), [expect.reaches], `the app got exactly ${expect.reaches}`);
          verdict = `reached ${expect.reaches}`;
        }
        if (SUMMARY !== '') appendFileSync(SUMMARY, `${mode}\t${where}\t${row.id}\t${verdict}\t${JSON.stringify(o)}\n`);
      });
    }
  });
}


