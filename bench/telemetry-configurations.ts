// What telemetry costs on the L7 path: the same path as "Weft L7 (HTTP)" (metrics and tap on,
// no span export: the default), once with all proxy telemetry off and once with every request
// traced and exported. Each has its own pods; the agents switch settings when the row runs
// (bench/agent-env.ts).
import type { BenchContext, Configuration, Ports } from './configurations.ts';
import type { WatchedProcess } from './proc-stats.ts';
import { startSpanSink, type SpanSink } from './span-sink.ts';

type Proxies = (ctx: BenchContext) => WatchedProcess[];

/** Left out of the smoke profile: every switch between them restarts both agents, which would
 * double the smoke's time; tests/e2e/obs-l7.test.ts covers what they switch. */
export const TELEMETRY_ROWS: readonly string[] = ['weft-l7-notel', 'weft-l7-traced'];

const SINK_PORT = 4318;

/** On the iptables site, with the L7 rows' (sniffed) ports. */
export function telemetryOff(proxies: Proxies, ports: Ports): Configuration {
  return {
    id: 'weft-l7-notel',
    label: 'Weft L7, telemetry off',
    namespace: 'weftnotel',
    meshed: true,
    site: 'iptables',
    ports,
    path: 'as Weft L7 (HTTP), with WEFT_TELEMETRY=false on both agents: no metrics, tap, access log or spans',
    agentEnv: () => ({ WEFT_TELEMETRY: 'false' }),
    proxies,
  };
}

/** Every request sampled (always_on): the worst case; a ratio like the chart's 1% costs a fraction. */
export function tracingOn(proxies: Proxies, ports: Ports, sinkNode: string): Configuration {
  let sink: SpanSink | undefined;
  return {
    id: 'weft-l7-traced',
    label: 'Weft L7, every request traced',
    namespace: 'wefttraced',
    meshed: true,
    site: 'iptables',
    ports,
    path: 'as Weft L7 (HTTP), with OTEL_TRACES_SAMPLER=always_on: a client span on n1 and a server span on n2 per request, exported over OTLP/HTTP (protobuf, the default) to a counting sink on n1',
    async setup(ctx) {
      const site = ctx.sites.get('iptables');
      if (site === undefined) throw new Error('the traced row needs the iptables testbed');
      sink = await startSpanSink(site.tb, sinkNode, SINK_PORT);
    },
    agentEnv: () => {
      if (sink === undefined) throw new Error('the span sink is not running');
      return { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.endpoint, OTEL_TRACES_SAMPLER: 'always_on' };
    },
    async teardown() {
      const counts = await sink?.stop();
      sink = undefined;
      // Spans received vs requests sent tells whether the agents' export queues dropped any.
      if (counts !== undefined) process.stderr.write(`bench: span sink received ${counts.spans} spans in ${counts.requests} exports (${counts.bytes} bytes)\n`);
    },
    proxies,
  };
}
