// The hop between agents alone, per engine pairing (WEFT_L7_H2_ENGINE), in one process: the
// agent's client side (PeerSessions + startH2Attempt: H2Attempt on node:http2, one H2StreamAttempt
// object per request on the codec) against its HBONE listener (createHboneServer)
// over mesh mTLS on loopback, with a handler that answers like inbound-http.ts does (respond with
// waitForTrailers, a 1 KiB body, trailers). Closed loop, `--concurrency` requests in flight
// (default 16), `--seconds` per pairing (default 3), pairings interleaved for `--rounds` (default
// 3), medians. No pods, no app-side HTTP: what the engine change moves, without the rest.
//   node bench/hop-engines.ts [--concurrency 16] [--seconds 3] [--rounds 3]
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { PeerSessions } from '../agent/http/peer-sessions.ts';
import { startH2Attempt } from '../agent/http/h2-stream-attempt.ts';
import type { AttemptSink } from '../agent/http/upstream.ts';
import type { H2Engine } from '../agent/proxy/hbone/index.ts';
import { CLIENT_ID, SERVER_ID, TD, makeMesh, startHbone } from '../tests/agent/proxy/hbone/fixture.ts';

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '16' }, seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' } }, strict: true });
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const BODY = Buffer.alloc(1024, 'x');
const ENGINES: H2Engine[] = ['node', 'weft'];

function answer({ stream }: { stream: ServerHttp2Stream; headers: IncomingHttpHeaders }): void {
  stream.on('error', () => {});
  stream.resume();
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'x-done': '1' }));
  stream.end(BODY);
}

const mesh = await makeMesh();
const results = new Map<string, { rps: number[]; cpu: number[] }>();

async function run(client: H2Engine, server: H2Engine): Promise<void> {
  const { hbone, port } = await startHbone(mesh, undefined, 0, { engine: server, onHttp: answer });
  const peers = new PeerSessions({ trustDomain: TD, certificates: mesh.clientCerts, dialTcp: (h, p) => net.connect({ host: h, port: p, noDelay: true }), engine: client });
  const key = { sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } };
  await peers.acquire(key).then((e) => peers.release(e));
  let done = 0;
  let stop = false;
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const entry = peers.acquireNow(key);
    if (entry === undefined) return reject(new Error('no context'));
    const sink: AttemptSink = {
      onContinue() {},
      onResponse(_s, _h, body) { body.resume(); },
      onEnd() { done++; resolve(); },
      onFailure(_d, err) { reject(err); },
    };
    startH2Attempt(entry.session, { ':method': 'GET', ':path': '/x', ':scheme': 'http', ':authority': 'cart:8080', 'weft-target': '127.0.0.2:8080', 'weft-proto': 'http1' }, true, sink, peers, entry);
  });
  const worker = async (): Promise<void> => {
    while (!stop) await one();
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  stop = true;
  await Promise.all(workers);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const label = `client ${client} → server ${server}`;
  const r = results.get(label) ?? { rps: [], cpu: [] };
  r.rps.push(done / (ms / 1000));
  r.cpu.push((cpu.user + cpu.system) / done);
  results.set(label, r);
  await peers.close();
  await hbone.close();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (let round = 0; round < ROUNDS; round++) {
  for (const c of ENGINES) for (const s of ENGINES) await run(c, s);
}
console.log(`| pairing | req/s (median of ${ROUNDS}) | CPU µs/req, both ends |`);
console.log('|---|--:|--:|');
for (const [label, r] of results) console.log(`| ${label} | ${Math.round(median(r.rps))} | ${median(r.cpu).toFixed(1)} |`);
