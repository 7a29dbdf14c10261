// An OTLP/HTTP traces endpoint for the bench's "tracing on" row: it answers every export at once
// and only counts (spans, bytes, requests), so the collector costs the shared machine as little as
// possible and keeps no memory. tests/common/otlp-receiver.ts keeps everything, which is right for
// tests and wrong under thousands of spans a second. Spans are counted in either encoding: the
// agents export http/protobuf by default (and this row measures the default); it counted only
// JSON's `"spanId"` keys until 2026-12-07, and so reported 0 spans for every run since that
// default changed.
//   node bench/span-sink.ts --host H --port P   → {"ready":true} then, on SIGTERM, one summary line
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from '../tests/testbed/testbed.ts';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { decodeOtlpProtobuf } from '../tests/common/otlp-protobuf.ts';

export interface SinkCounts {
  requests: number;
  spans: number;
  bytes: number;
}

const SPAN_ID = Buffer.from('"spanId"');

interface DecodedTraces { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] }

/** Spans in one OTLP/HTTP traces export: JSON (by its `"spanId"` keys) or protobuf (decoded), gzip or not. */
export function countSpans(raw: Buffer, contentType: string | undefined, contentEncoding: string | undefined): number {
  const body = contentEncoding === 'gzip' ? gunzipSync(raw) : raw;
  if (contentType?.startsWith('application/x-protobuf') === true) {
    const req = decodeOtlpProtobuf('/v1/traces', body) as DecodedTraces;
    let n = 0;
    for (const rs of req.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
    return n;
  }
  let n = 0;
  for (let i = body.indexOf(SPAN_ID); i >= 0; i = body.indexOf(SPAN_ID, i + SPAN_ID.length)) n++;
  return n;
}

export interface SpanSink {
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT for the agents. */
  readonly endpoint: string;
  /** Stops the sink and returns what it received. */
  stop(): Promise<SinkCounts>;
}

/** Runs the sink inside a node's namespace (where the agents can reach it). */
export function startSpanSink(tb: Testbed, node: string, port: number): Promise<SpanSink> {
  const ip = tb.node(node).ip;
  const child: ChildProcess = tb.spawn(tb.node(node).netns, process.execPath, [fileURLToPath(import.meta.url), '--host', ip, '--port', String(port)]);
  const lines: string[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const ready = setInterval(() => {
      if (!lines.some((l) => l.includes('"ready"'))) return;
      clearInterval(ready);
      resolve({
        endpoint: `http://${ip}:${port}/v1/traces`,
        async stop() {
          child.kill('SIGTERM');
          await exited;
          const last = lines.at(-1) ?? '{}';
          return JSON.parse(last) as SinkCounts;
        },
      });
    }, 50);
    void exited.then(() => {
      clearInterval(ready);
      reject(new Error(`span sink exited before it was ready: ${lines.join(' ')}`));
    });
  });
}

if (import.meta.main) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '4318' } } });
  const counts: SinkCounts = { requests: 0, spans: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      counts.requests++;
      counts.bytes += body.length;
      counts.spans += countSpans(body, req.headers['content-type'], req.headers['content-encoding']);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(Number(values.port), values.host, () => process.stdout.write('{"ready":true}\n'));
  process.on('SIGTERM', () => {
    process.stdout.write(JSON.stringify(counts) + '\n', () => process.exit(0));
  });
}
