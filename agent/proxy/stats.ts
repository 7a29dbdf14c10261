// Plain counters for /config_dump and tests: connections per path and bytes each way. The
// OpenTelemetry metrics are built on the same events; these are the cheap always-on totals.
export type PathKind = 'outbound_hbone' | 'outbound_local' | 'outbound_passthrough' | 'inbound_hbone' | 'inbound_plaintext';

export interface PathCounters {
  opened: number;
  closed: number;
  failed: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
}

export class ProxyStats {
  readonly paths: Record<PathKind, PathCounters>;
  rejected = 0;

  constructor() {
    const zero = (): PathCounters => ({ opened: 0, closed: 0, failed: 0, active: 0, bytesIn: 0, bytesOut: 0 });
    this.paths = {
      outbound_hbone: zero(),
      outbound_local: zero(),
      outbound_passthrough: zero(),
      inbound_hbone: zero(),
      inbound_plaintext: zero(),
    };
  }

  opened(kind: PathKind): void {
    const c = this.paths[kind];
    c.opened++;
    c.active++;
  }

  closed(kind: PathKind, bytesIn: number, bytesOut: number, failed: boolean): void {
    const c = this.paths[kind];
    c.closed++;
    c.active--;
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
    if (failed) c.failed++;
  }

  toJSON(): { paths: Record<PathKind, PathCounters>; rejected: number } {
    return { paths: this.paths, rejected: this.rejected };
  }
}

/** Sums the stats of several workers. */
export function sumStats(all: ReturnType<ProxyStats['toJSON']>[]): ReturnType<ProxyStats['toJSON']> {
  const total = new ProxyStats().toJSON();
  for (const s of all) {
    total.rejected += s.rejected;
    for (const k of Object.keys(total.paths) as PathKind[]) {
      const t = total.paths[k];
      const v = s.paths[k];
      t.opened += v.opened; t.closed += v.closed; t.failed += v.failed; t.active += v.active;
      t.bytesIn += v.bytesIn; t.bytesOut += v.bytesOut;
    }
  }
  return total;
}
