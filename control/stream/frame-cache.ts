// What every agent receives is the same bytes: the snapshot frames of a model version and each
// delta. Encoding them once and handing every session the same Buffers keeps control's memory at
// one copy per version however many agents connect (a per-session JSON.stringify of a 50k-pod
// snapshot held ~1 MiB per agent in send queues), and saves the CPU of encoding it N times.
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

export class FrameCache {
  readonly #store: ModelStore;
  readonly #chunk: number;
  #snapshot: SnapshotFrames | null = null;
  // Keyed by the change object the store hands every subscriber: the first session encodes it.
  readonly #deltas = new WeakMap<ModelChange, Buffer>();

  readonly #onBuilt: ((b: SnapshotBuild) => void) | undefined;

  constructor(store: ModelStore, chunk: number, onBuilt?: (b: SnapshotBuild) => void) {
    this.#store = store;
    this.#chunk = chunk;
    this.#onBuilt = onBuilt;
  }

  snapshot(): SnapshotFrames {
    const { version, records } = this.#store.snapshot();
    if (this.#snapshot?.version === version) return this.#snapshot;
    const startMs = Date.now();
    const frames: Buffer[] = [];
    // At least one snapshot frame, even when empty, so the agent always sees the version first.
    for (let i = 0; i === 0 || i < records.length; i += this.#chunk) {
      frames.push(encode({ type: 'snapshot', version, resources: records.slice(i, i + this.#chunk) }));
    }
    frames.push(encode({ type: 'snapshot-sent', version, count: records.length }));
    this.#snapshot = { version, count: records.length, frames };
    this.#onBuilt?.({ version, records: records.length, frames: frames.length, startMs, endMs: Date.now() });
    return this.#snapshot;
  }

  delta(change: ModelChange): Buffer {
    let frame = this.#deltas.get(change);
    if (frame === undefined) {
      frame = encode({ type: 'delta', version: change.version, upserts: [...change.upserts], removes: [...change.removes] });
      this.#deltas.set(change, frame);
    }
    return frame;
  }
}
