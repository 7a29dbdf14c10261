// The control plane's current model: every ResourceRecord keyed by resource id, with a version
// that moves only when something really changed. Sources hand in whole sets (replaceAll) or
// increments (apply); the store works out the true difference so an unchanged reload of a file,
// or a resync of a Kubernetes informer, costs agents nothing.
//
// Records inside the store are frozen copies: subscribers and snapshot readers share them, so
// nobody may mutate them, and freezing makes an accidental write fail loudly instead of silently
// diverging control from what agents were told.
import type { Logger } from '../../common/log.ts';
import { resourceId, type ResourceRecord, type WorkloadRecord } from '../api/model.ts';
import { jsonEqual } from '../api/record-equal.ts';

export interface ModelChange {
  version: number;
  upserts: readonly ResourceRecord[];
  /** Resource ids (`kind:key`) that are gone. */
  removes: readonly string[];
}

export interface ModelSnapshot {
  version: number;
  records: readonly ResourceRecord[];
}

export type ModelListener = (change: ModelChange) => void;

export interface ModelStoreOptions {
  /** Where a throwing subscriber is reported; one bad subscriber must not starve the others. */
  log?: Logger;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export class ModelStore {
  readonly #records = new Map<string, ResourceRecord>();
  readonly #listeners = new Set<ModelListener>();
  readonly #log: Logger | undefined;
  #version = 0;

  constructor(options: ModelStoreOptions = {}) {
    this.#log = options.log;
  }

  /** 0 until the first change. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#records.size;
  }

  get(id: string): ResourceRecord | undefined {
    return this.#records.get(id);
  }

  /** Makes the model exactly `records` (later duplicates of an id win). Null when nothing changed. */
  replaceAll(records: readonly ResourceRecord[]): ModelChange | null {
    const wanted = new Map<string, ResourceRecord>();
    for (const r of records) wanted.set(resourceId(r), r);
    const removes: string[] = [];
    for (const id of this.#records.keys()) if (!wanted.has(id)) removes.push(id);
    return this.#commit([...wanted.values()], removes);
  }

  /**
   * Applies an increment. Removes are applied before upserts, so an id in both ends up present.
   * Removing an id the model does not hold is not a change. Null when nothing changed.
   */
  apply(upserts: readonly ResourceRecord[], removes: readonly string[] = []): ModelChange | null {
    const upserted = new Set(upserts.map(resourceId));
    return this.#commit(upserts, removes.filter((id) => !upserted.has(id)));
  }

  #commit(upserts: readonly ResourceRecord[], removes: readonly string[]): ModelChange | null {
    const changedUpserts = new Map<string, ResourceRecord>();
    for (const r of upserts) {
      const id = resourceId(r);
      const current = this.#records.get(id);
      if (current !== undefined && jsonEqual(current, r)) {
        changedUpserts.delete(id);
        continue;
      }
      changedUpserts.set(id, r);
    }
    const changedRemoves = removes.filter((id) => this.#records.has(id));
    if (changedUpserts.size === 0 && changedRemoves.length === 0) return null;

    const frozen: ResourceRecord[] = [];
    for (const [id, r] of changedUpserts) {
      const copy = deepFreeze(structuredClone(r));
      this.#records.set(id, copy);
      frozen.push(copy);
    }
    for (const id of changedRemoves) this.#records.delete(id);
    this.#version++;
    const change: ModelChange = Object.freeze({ version: this.#version, upserts: Object.freeze(frozen), removes: Object.freeze([...new Set(changedRemoves)]) });
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.#log?.error('model subscriber failed', { err, version: change.version });
      }
    }
    return change;
  }

  snapshot(): ModelSnapshot {
    return { version: this.#version, records: [...this.#records.values()] };
  }

  /** Calls `listener` after every change, synchronously, in order. Returns the unsubscribe. */
  subscribe(listener: ModelListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  workloadsOnNode(node: string): WorkloadRecord[] {
    const out: WorkloadRecord[] = [];
    for (const r of this.#records.values()) if (r.kind === 'workload' && r.node === node) out.push(r);
    return out;
  }

  /**
   * SPIFFE ids of meshed pods scheduled on `node`: the identities that node's agent may have
   * signed. Unmeshed pods are left out: their traffic never carries a mesh identity. A pod not yet
   * networked counts: its agent captures it at the CNI ADD and fetches its certificate then.
   */
  identitiesOnNode(node: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.#records.values()) if ((r.kind === 'workload' || r.kind === 'pending-workload') && r.node === node && r.meshed) out.add(r.identity);
    return out;
  }
}
