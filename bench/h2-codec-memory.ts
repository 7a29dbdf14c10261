// Memory one idle agent/h2 server connection holds after a handshake and one answered request
// (heap and ArrayBuffers per connection over N connections, byte sinks standing in for sockets:
// the socket's own memory is not the codec's). No assertions; prints the figures.
//   node --expose-gc bench/h2-codec-memory.ts [N]
import { H2Connection, type H2Handler, type H2Stream } from '../agent/h2/connection.ts';
import { FrameWriter } from '../agent/h2/frame-writer.ts';
import { writeHeaders, writeSettings, writeSettingsAck } from '../agent/h2/frame-encode.ts';
import { CLIENT_PREFACE } from '../agent/h2/constants.ts';
import { HpackEncoder } from '../agent/h2/hpack-encoder.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const N = Number(process.argv[2] ?? 5000);

const w = new FrameWriter();
const at = w.reserve(CLIENT_PREFACE.length);
CLIENT_PREFACE.copy(w.slab, at);
w.commit(CLIENT_PREFACE.length);
writeSettings(w, []);
writeSettingsAck(w);
writeHeaders(w, 1, Buffer.from(new HpackEncoder().encode([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x', 'user-agent', 'bench'])), true, 16_384);
const opening = w.take();

const sink = { write: (): boolean => true, cork(): void {}, uncork(): void {}, end(): void {} };
const conns: H2Connection[] = [];
const handler: H2Handler = {
  onHeaders(s: H2Stream): void {
    conns[conns.length - 1].sendHeaders(s, [':status', '200', 'content-type', 'text/plain'], true);
  },
  onData(): void {},
  onReset(): void {},
};

gc();
const m0 = process.memoryUsage();
for (let i = 0; i < N; i++) {
  const c = new H2Connection(sink, handler, { role: 'server' });
  conns.push(c);
  c.start();
  c.receive(opening);
  c.writer.flush();
}
gc();
const m1 = process.memoryUsage();
console.log(`${N} idle agent/h2 server connections (handshake + one request answered), Node ${process.version}`);
console.log(`per connection: heap ${((m1.heapUsed - m0.heapUsed) / N).toFixed(0)} B, ArrayBuffers ${((m1.arrayBuffers - m0.arrayBuffers) / N).toFixed(0)} B`);
