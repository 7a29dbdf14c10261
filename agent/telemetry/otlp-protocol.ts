// Which OTLP/HTTP encoding an export uses, from the standard OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL.
// Weft keeps http/json when nothing is set (every OTLP/HTTP receiver, the collector included,
// accepts it, and it is what earlier versions sent); http/protobuf is there for receivers that want
// only protobuf. grpc is not offered: the agent ships no gRPC exporter, so it says so and sends
// http/protobuf, the encoding a collector's gRPC-only setup is most likely to be paired with.
import type { Logger } from '../../common/log.ts';

export type OtlpProtocol = 'http/json' | 'http/protobuf';

export function otlpProtocol(env: (k: string) => string | undefined, signal: 'TRACES' | 'METRICS', log: Logger): OtlpProtocol {
  const raw = env(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`) ?? env('OTEL_EXPORTER_OTLP_PROTOCOL');
  const v = raw?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'http/json') return 'http/json';
  if (v === 'http/protobuf') return 'http/protobuf';
  log.warn(`OTLP ${signal.toLowerCase()} protocol ${JSON.stringify(raw)} is not supported; sending http/protobuf`, { supported: ['http/json', 'http/protobuf'] });
  return 'http/protobuf';
}
