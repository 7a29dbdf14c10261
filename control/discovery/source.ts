// Where the model comes from. A source emits the WHOLE current set of records each time it
// changes (the store diffs), which keeps sources simple: they never track what they sent before.
// Implementations register by name; control's config picks `file` (sandbox) or `kubernetes`.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { ResourceRecord } from '../api/model.ts';

export type RecordSink = (records: ResourceRecord[]) => void;

export interface DiscoverySource {
  readonly name: string;
  /** Emits the first full set before resolving (or rejects); later sets whenever they change. */
  start(sink: RecordSink): Promise<void>;
  stop(): Promise<void>;
  /** Prometheus text the source adds to control's /metrics (refused objects, say). */
  metrics?(): string;
}

/** What every source gets; implementations read their own keys from `options`. */
import type { PathNormalization } from '../../common/path-normalize.ts';

export interface DiscoverySourceContext {
  trustDomain: string;
  /** The mesh's path normalisation: policy rule paths are checked against it. Default merge-slashes. */
  pathNormalization?: PathNormalization;
  log: Logger;
  options: Readonly<Record<string, unknown>>;
}

export type DiscoverySourceFactory = (ctx: DiscoverySourceContext) => DiscoverySource;

const factories = new Map<string, DiscoverySourceFactory>();

export function registerDiscoverySource(name: string, factory: DiscoverySourceFactory): void {
  if (factories.has(name)) throw new Error(`discovery source ${JSON.stringify(name)} registered twice`);
  factories.set(name, factory);
}

export function discoverySourceNames(): string[] {
  return [...factories.keys()].sort();
}

export function createDiscoverySource(name: string, ctx: DiscoverySourceContext): DiscoverySource {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `unknown discovery source ${JSON.stringify(name)}; known: ${discoverySourceNames().join(', ') || '(none)'}`);
  }
  return factory(ctx);
}
