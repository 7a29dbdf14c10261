// Denial and audit counters by (policy, source identity, destination workload): a small plain
// struct the telemetry work turns into metrics, and /config_dump shows as it is. Source is the
// SPIFFE ID or `unauthenticated`, never an address, so the label set stays bounded by identities;
// past MAX_SERIES new combinations fold into one `(other)` row instead of growing without end.
export type PolicyEventKind = 'denied' | 'audited' | 'closed';

export interface PolicyCounterRow {
  kind: PolicyEventKind;
  policy: string;
  source: string;
  destination: string;
  count: number;
}

export interface PolicyCountersJson {
  denied: number;
  audited: number;
  /** Open connections closed because a policy change denied them. */
  closed: number;
  rows: PolicyCounterRow[];
}

export const MAX_SERIES = 2000;
export const UNAUTHENTICATED = 'unauthenticated';
const OTHER = '(other)';

export class PolicyCounters {
  readonly #rows = new Map<string, PolicyCounterRow>();
  readonly totals: Record<PolicyEventKind, number> = { denied: 0, audited: 0, closed: 0 };

  add(kind: PolicyEventKind, policy: string, sourceIdentity: string | null, destination: string): void {
    this.totals[kind]++;
    const source = sourceIdentity ?? UNAUTHENTICATED;
    let key = `${kind}\n${policy}\n${source}\n${destination}`;
    let row = this.#rows.get(key);
    if (row === undefined) {
      if (this.#rows.size >= MAX_SERIES) {
        key = `${kind}\n${OTHER}`;
        row = this.#rows.get(key);
        if (row === undefined) this.#rows.set(key, (row = { kind, policy: OTHER, source: OTHER, destination: OTHER, count: 0 }));
      } else {
        this.#rows.set(key, (row = { kind, policy, source, destination, count: 0 }));
      }
    }
    row.count++;
  }

  toJSON(): PolicyCountersJson {
    return { ...this.totals, rows: [...this.#rows.values()].map((r) => ({ ...r })) };
  }
}

/** Sums the counters of several proxy workers into one view. */
export function mergePolicyCounters(all: readonly PolicyCountersJson[]): PolicyCountersJson {
  const rows = new Map<string, PolicyCounterRow>();
  const out: PolicyCountersJson = { denied: 0, audited: 0, closed: 0, rows: [] };
  for (const c of all) {
    out.denied += c.denied;
    out.audited += c.audited;
    out.closed += c.closed;
    for (const r of c.rows) {
      const key = `${r.kind}\n${r.policy}\n${r.source}\n${r.destination}`;
      const have = rows.get(key);
      if (have === undefined) rows.set(key, { ...r });
      else have.count += r.count;
    }
  }
  out.rows = [...rows.values()].sort((a, b) => b.count - a.count || (a.policy < b.policy ? -1 : 1));
  return out;
}
