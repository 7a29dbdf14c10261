// A client that half-closes after its request (shutdown(SHUT_WR)) still gets the whole answer
// through the L7 path, same node and across nodes (issue 20, part 4). HTTP/1.1 lets a client end
// its side once the request is written; the proxy must answer and only then close. Before the fix
// node:http ended the agent's side of the connection on the client's FIN, so the pod answered 200
// to the agent and the client received 0 bytes. The opaque path (a port in WEFT_OPAQUE_PORTS) is
// the control: it always delivered.
// Real parts: the testbed's namespaces, the redirector of the mode under test (iptables here;
// ebpf-l7-half-close.test.ts runs the same body in eBPF mode), the agents, node:http servers in
// the pods, and a raw-socket client (tests/apps/half-close-client.ts) that really sends a FIN.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { HalfCloseResult } from '../apps/half-close-client.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';

const mode = testRedirectMode();
const OPAQUE_PORT = 9090;
const tb = await withTestbed(t, {
  name: testbedName('l7-half-close'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'near', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'far', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, redirectMode: mode, agentEnv: { WEFT_OPAQUE_PORTS: String(OPAQUE_PORT) } });
t.teardown(() => mesh.stop());
for (const pod of ['near', 'far']) {
  await mesh.startApp(pod, 'http-server.ts', ['--port', '8080', '--name', pod]);
  await mesh.startApp(pod, 'http-server.ts', ['--port', String(OPAQUE_PORT), '--name', `${pod}-opaque`]);
}

interface Answer { status: number; body: Buffer }

/**
 * Frames what came back as HTTP/1.x responses (Content-Length, chunked, or until close), written
 * here rather than taken from the agent so the oracle does not share the code under test.
 */
function responses(raw: Buffer): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) throw new Error(`incomplete head: ${JSON.stringify(raw.subarray(at, at + 200).toString('latin1'))}`);
    const lines = raw.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0]);
    if (m === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const header = (name: string): string | undefined => lines.slice(1).find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
    let body: Buffer;
    at = headEnd + 4;
    const cl = header('content-length');
    if (cl !== undefined) {
      body = raw.subarray(at, at + Number(cl));
      if (body.length !== Number(cl)) throw new Error(`body cut short: ${body.length} of ${cl} bytes`);
      at += body.length;
    } else if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = raw.indexOf('\r\n', at);
        if (eol < 0) throw new Error('chunked body cut short');
        const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
        at = eol + 2;
        if (size === 0) {
          at = raw.indexOf('\r\n\r\n', at - 2) + 4;
          break;
        }
        parts.push(raw.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = raw.subarray(at);
      at = raw.length;
    }
    out.push({ status: Number(m[1]), body });
  }
  return out;
}

async function halfClose(target: string, port: number, send: string | Buffer, endAfterMs: number): Promise<HalfCloseResult & { answers: Answer[] }> {
  const bytes = typeof send === 'string' ? Buffer.from(send, 'latin1') : send;
  const r = await mesh.runApp('client', 'half-close-client.ts', ['--host', tb.pod(target).ip, '--port', String(port), '--send', bytes.toString('base64'), '--end-after-ms', String(endAfterMs), '--wait-ms', '20000'], 60_000);
  const res = r.stdout[r.stdout.length - 1] as unknown as HalfCloseResult | undefined;
  if (res === undefined) throw new Error(`half-close-client printed nothing (exit ${r.code}): ${r.stderr}`);
  return { ...res, answers: responses(Buffer.from(res.response, 'base64')) };
}

const H = 'Host: svc\r\n';
const BODY = Buffer.alloc(3000, 'weft-half-close ');
const cases: Array<{ name: string; send: string | Buffer; want: Array<(a: Answer) => boolean>; describe: string }> = [
  { name: 'HTTP/1.1 GET, keep-alive', send: `GET /bytes/5000 HTTP/1.1\r\n${H}\r\n`, want: [(a) => a.status === 200 && a.body.length === 5000], describe: '200 with 5000 bytes' },
  { name: 'HTTP/1.0 GET (close-delimited client)', send: 'GET /bytes/5000 HTTP/1.0\r\n\r\n', want: [(a) => a.status === 200 && a.body.length === 5000], describe: '200 with 5000 bytes' },
  { name: 'HTTP/1.1 POST with a body', send: Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\n${H}Content-Length: ${BODY.length}\r\n\r\n`, 'latin1'), BODY]), want: [(a) => a.status === 200 && a.body.equals(BODY)], describe: '200 echoing the 3000-byte body' },
  // Still in flight when the FIN comes, whichever --end-after-ms.
  { name: 'a slow answer (1.5 s)', send: `GET /delay/1500 HTTP/1.1\r\n${H}\r\n`, want: [(a) => a.status === 200], describe: '200' },
  {
    name: 'two pipelined GETs',
    send: `GET /bytes/100 HTTP/1.1\r\n${H}\r\nGET /bytes/200 HTTP/1.1\r\n${H}\r\n`,
    want: [(a) => a.status === 200 && a.body.length === 100, (a) => a.status === 200 && a.body.length === 200],
    describe: 'two 200s, 100 then 200 bytes',
  },
];

for (const [where, target] of [['same node', 'near'], ['across nodes', 'far']] as const) {
  for (const endAfterMs of [0, 500]) {
    const when = endAfterMs === 0 ? 'FIN with the request' : 'FIN 500 ms after the request';
    t.test(`${mode}, ${where}, ${when}: a half-closed client gets every answer, then the connection ends`, async (t) => {
      for (const c of cases) {
        const r = await halfClose(target, 8080, c.send, endAfterMs);
        t.ok(r.ok, `${c.name}: the agent closed the connection (not left hanging)`);
        t.equal(r.answers.length, c.want.length, `${c.name}: ${c.want.length} answer(s) (got ${r.bytes} bytes)`);
        t.ok(c.want.every((ok, i) => r.answers[i] !== undefined && ok(r.answers[i])), `${c.name}: ${c.describe}`);
        t.ok(r.ended, `${c.name}: ended with a FIN, not a reset (${r.error ?? 'no error'})`);
      }
    });
  }
}

t.test(`${mode}, the opaque path (control): the same half-closed request is answered`, async (t) => {
  for (const target of ['near', 'far']) {
    const r = await halfClose(target, OPAQUE_PORT, `GET /bytes/5000 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 0);
    t.equal(r.answers.length, 1, `${target}: one answer`);
    t.ok(r.answers[0]?.status === 200 && r.answers[0].body.length === 5000, `${target}: 200 with 5000 bytes`);
  }
});

t.test('the L7 path carried those requests (not a silent fall-back to TCP)', async (t) => {
  const a = await mesh.admin('n1', '/config_dump/proxy');
  const l7 = (a.body as { proxy: { l7?: { detectedHttp1?: number } } }).proxy.l7;
  t.ok((l7?.detectedHttp1 ?? 0) >= cases.length * 4, `n1 detected HTTP/1 on the half-closed connections (${l7?.detectedHttp1})`);
});
