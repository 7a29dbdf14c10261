// What every agent receives is the same bytes: the snapshot frames of a model version and each
// delta. Encoding them once and handing every session the same Buffers keeps control's memory at
// one copy per version however many agents connect (a per-session JSON.stringify of a 50k-pod
// snapshot held ~1 MiB per agent in send queues), and saves the CPU of encoding it N times.
// Agents that lack a feature (an older agent during a rolling upgrade) get the records of the
// kinds they understand: one more encoding per feature set in use, not one per agent.
import { FEATURE_KINDS, type ResourceRecord } from '../api/model.ts';
import type { ControlMessage } from '../api/stream.ts';
import type { ModelChange, ModelStore } from '../model/model-store.ts';

export interface SnapshotFrames {
  version: number;
  count: number;
  /** `snapshot` chunks, then `snapshot-sent`. */
  frames: Buffer[];
}

/** One snapshot encoding, for control's telemetry. */
export interface SnapshotBuild {
  version: number;
  records: number;
  frames: number;
  startMs: number;
  endMs: number;
}

const encode = (m: ControlMessage): Buffer => Buffer.from(JSON.stringify(m));

/** Which records an agent is sent: every kind but the feature kinds its hello did not name. */
export class Audience {
  static readonly ALL = new Audience([...FEATURE_KINDS]);
  /** Identifies the variant in caches: the hidden kinds, sorted. */
  readonly id: string;
  /** The agent's features this control honours (told to it with snapshot-sent). */
  readonly features: string[];
  readonly #hidden: ReadonlySet<string>;

  constructor(features: readonly string[]) {
    const hidden = [...FEATURE_KINDS].filter((k) => !features.includes(k)).sort();
    this.#hidden = new Set(hidden);
    this.features = [...FEATURE_KINDS].filter((k) => features.includes(k)).sort();
    this.id = hidden.join(',');
  }

  get everything(): boolean {
    return this.#hidden.size === 0;
  }

  records(rs: readonly ResourceRecord[]): ResourceRecord[] {
    return this.everything ? [...rs] : rs.filter((r) => !this.#hidden.has(r.kind));
  }

  removes(ids: readonly string[]): string[] {
    return this.everything ? [...ids] : ids.filter((id) => !this.#hidden.has(id.slice(0, id.indexOf(':'))));
  }
}

export class FrameCache {
  readonly #store: ModelStore;
  readonly #chunk: number;
  /** The newest snapshot's frames, per audience (Audience.id). */
  readonly #snapshots = new Map<string, SnapshotFrames>();
  // Keyed by the change object the store hands every subscriber: the first session encodes it.
  readonly #deltas = new WeakMap<ModelChange, Map<string, Buffer>>();

  readonly #onBuilt: ((b: SnapshotBuild) => void) | undefined;

  constructor(store: ModelStore, chunk: number, onBuilt?: (b: SnapshotBuild) => void) {
    this.#store = store;
    this.#chunk = chunk;
    this.#onBuilt = onBuilt;
  }

  snapshot(audience: Audience = Audience.ALL): SnapshotFrames {
    const { version, records: all } = this.#store.snapshot();
    const have = this.#snapshots.get(audience.id);
    if (have?.version === version) return have;
    const records = audience.records(all);
    const startMs = Date.now();
    const frames: Buffer[] = [];
    // At least one snapshot frame, even when empty, so the agent always sees the version first.
    for (let i = 0; i === 0 || i < records.length; i += this.#chunk) {
      frames.push(encode({ type: 'snapshot', version, resources: records.slice(i, i + this.#chunk) }));
    }
    frames.push(encode({ type: 'snapshot-sent', version, count: records.length, features: audience.features }));
    const built = { version, count: records.length, frames };
    // Older versions of every audience are dropped: a session takes the newest snapshot only.
    for (const [id, s] of this.#snapshots) if (s.version !== version) this.#snapshots.delete(id);
    this.#snapshots.set(audience.id, built);
    this.#onBuilt?.({ version, records: records.length, frames: frames.length, startMs, endMs: Date.now() });
    return built;
  }

  /** A change as `audience` sees it (an agent without a feature gets the version, perhaps empty). */
  delta(change: ModelChange, audience: Audience = Audience.ALL): Buffer {
    let byAudience = this.#deltas.get(change);
    if (byAudience === undefined) {
      byAudience = new Map();
      this.#deltas.set(change, byAudience);
    }
    let frame = byAudience.get(audience.id);
    if (frame === undefined) {
      frame = encode({ type: 'delta', version: change.version, upserts: audience.records(change.upserts), removes: audience.removes(change.removes) });
      byAudience.set(audience.id, frame);
    }
    return frame;
  }
}
