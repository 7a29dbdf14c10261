// The agent's view of the cluster, built from the config stream. Routing reads it on every new
// connection, so lookups are map reads; the indexes are maintained on apply, and endpoint lists
// (the one computed view) are cached until the next change.
//
// Records are replaced wholesale, never patched: a delta upsert is the record's new full value.
import { resourceId, type MeshPolicyRecord, type NodeRecord, type PendingWorkloadRecord, type PolicyRecord, type RefusedObject, type ResourceRecord, type RouteRecord, type ServicePort, type ServiceRecord, type WorkloadRecord } from '../../control/api/model.ts';
import { jsonEqual } from '../../control/api/record-equal.ts';
import type { Logger } from '../../common/log.ts';

export interface StateChange {
  version: number;
  /** Records that are new or different. */
  upserts: ResourceRecord[];
  /** Records that are gone (their last value). */
  removes: ResourceRecord[];
  /** True when the change came from a snapshot replacing the whole state. */
  resync: boolean;
}

export type StateListener = (change: StateChange) => void;

export interface ServiceMatch {
  service: ServiceRecord;
  port: ServicePort;
}

export interface Endpoint {
  workload: WorkloadRecord;
  ip: string;
  /** The workload port the service port targets. */
  port: number;
  node: string;
  /** Where the endpoint's node takes HBONE; undefined when the node is unknown. */
  nodeAddress: string | undefined;
}

const NO_ROUTES: readonly RouteRecord[] = Object.freeze([]);

function addressKey(ip: string, port: number): string {
  return `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/** The number a pod gives a named container port; undefined when it names no such port. */
function namedPort(w: WorkloadRecord, name: string): number | undefined {
  const ports = w.namedPorts;
  return ports !== undefined && Object.hasOwn(ports, name) ? ports[name] : undefined;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  // A Service without a selector has hand-managed endpoints, which the model does not carry.
  if (keys.length === 0) return false;
  return keys.every((k) => labels[k] === selector[k]);
}

/** Who is sending now, among records sharing an IP: meshed first, then ready. */
function senderScore(w: WorkloadRecord): number {
  return (w.meshed ? 2 : 0) + (w.ready ? 1 : 0);
}

export class AgentState {
  readonly #records = new Map<string, ResourceRecord>();
  readonly #byIp = new Map<string, Set<string>>();
  readonly #byAddress = new Map<string, ServiceMatch>();
  readonly #nodes = new Map<string, NodeRecord>();
  /** Parent Service key → HTTPRoutes attached to it (L7 routing reads this per request). */
  readonly #routesByParent = new Map<string, RouteRecord[]>();
  /** Authorization and mesh policies by resource id: few, read when policies are recompiled. */
  readonly #policies = new Map<string, PolicyRecord | MeshPolicyRecord>();
  readonly #listeners = new Set<StateListener>();
  #endpointCache = new Map<string, Endpoint[]>();
  #version: number | null = null;
  readonly #log: Logger | undefined;

  /** `log` hears listeners that throw: one bad listener must not stop the others or the stream. */
  constructor(options: { log?: Logger } = {}) {
    this.#log = options.log;
  }

  /** Null until the first snapshot. */
  get version(): number | null {
    return this.#version;
  }

  get size(): number {
    return this.#records.size;
  }

  records(): ResourceRecord[] {
    return [...this.#records.values()];
  }

  /** Replaces the whole state; whatever the snapshot did not carry is dropped. */
  applySnapshot(version: number, records: readonly ResourceRecord[]): StateChange {
    const wanted = new Map<string, ResourceRecord>();
    for (const r of records) wanted.set(resourceId(r), r);
    const removes: string[] = [];
    for (const id of this.#records.keys()) if (!wanted.has(id)) removes.push(id);
    return this.#apply(version, [...wanted.values()], removes, true);
  }

  /** Applies an increment; removes first, so an id in both ends up present. */
  applyDelta(version: number, upserts: readonly ResourceRecord[], removes: readonly string[]): StateChange {
    return this.#apply(version, upserts, removes, false);
  }

  #apply(version: number, upserts: readonly ResourceRecord[], removeIds: readonly string[], resync: boolean): StateChange {
    const removed: ResourceRecord[] = [];
    const upserted = new Set(upserts.map(resourceId));
    for (const id of removeIds) {
      if (upserted.has(id)) continue;
      const old = this.#records.get(id);
      if (old === undefined) continue;
      this.#unindex(old);
      this.#records.delete(id);
      removed.push(old);
    }
    const changed: ResourceRecord[] = [];
    for (const r of upserts) {
      const id = resourceId(r);
      const old = this.#records.get(id);
      if (old !== undefined && jsonEqual(old, r)) continue;
      if (old !== undefined) this.#unindex(old);
      this.#records.set(id, r);
      this.#index(r);
      changed.push(r);
    }
    this.#version = version;
    if (changed.length > 0 || removed.length > 0) this.#endpointCache = new Map();
    const change: StateChange = { version, upserts: changed, removes: removed, resync };
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch (err) {
        this.#log?.error('state listener failed', { err, version });
      }
    }
    return change;
  }

  #index(r: ResourceRecord): void {
    if (r.kind === 'workload') {
      let keys = this.#byIp.get(r.ip);
      if (keys === undefined) this.#byIp.set(r.ip, (keys = new Set()));
      keys.add(r.key);
    } else if (r.kind === 'service') {
      if (r.clusterIP === null) return;
      // The mesh carries TCP only; a UDP port on the same number must not shadow it.
      for (const port of r.ports) if (port.protocol === 'TCP') this.#byAddress.set(addressKey(r.clusterIP, port.port), { service: r, port });
    } else if (r.kind === 'route') {
      for (const p of r.parents) {
        // A new array on every change: readers cache compiled tables by the array's identity.
        const list = this.#routesByParent.get(p.service) ?? [];
        if (!list.includes(r)) this.#routesByParent.set(p.service, [...list, r]);
      }
    } else if (r.kind === 'node') {
      this.#nodes.set(r.name, r);
    } else if (r.kind === 'policy' || r.kind === 'meshpolicy') {
      this.#policies.set(resourceId(r), r);
    }
  }

  #unindex(r: ResourceRecord): void {
    if (r.kind === 'workload') {
      const keys = this.#byIp.get(r.ip);
      keys?.delete(r.key);
      if (keys?.size === 0) this.#byIp.delete(r.ip);
    } else if (r.kind === 'service') {
      if (r.clusterIP === null) return;
      for (const port of r.ports) {
        const k = addressKey(r.clusterIP, port.port);
        if (this.#byAddress.get(k)?.service.key === r.key) this.#byAddress.delete(k);
      }
    } else if (r.kind === 'route') {
      for (const p of r.parents) {
        const list = this.#routesByParent.get(p.service)?.filter((x) => x.key !== r.key);
        if (list === undefined || list.length === 0) this.#routesByParent.delete(p.service);
        else this.#routesByParent.set(p.service, list);
      }
    } else if (r.kind === 'node') {
      if (this.#nodes.get(r.name)?.key === r.key) this.#nodes.delete(r.name);
    } else if (r.kind === 'policy' || r.kind === 'meshpolicy') {
      this.#policies.delete(resourceId(r));
    }
  }

  /**
   * The workload owning `ip`. Two records can briefly share an IP (a pod replaced by one that
   * got its address); a meshed, ready one is preferred, since that is who is sending now.
   */
  workloadByIp(ip: string): WorkloadRecord | undefined {
    const keys = this.#byIp.get(ip);
    if (keys === undefined) return undefined;
    let best: WorkloadRecord | undefined;
    for (const key of keys) {
      const w = this.workloadByKey(key);
      if (w === undefined) continue;
      if (best === undefined || senderScore(w) > senderScore(best)) best = w;
    }
    return best;
  }

  /** Kubernetes objects control refuses now (its `refused` record); empty when there are none. */
  refusedObjects(): RefusedObject[] {
    const r = this.#records.get(resourceId({ kind: 'refused', key: 'discovery' }));
    return r?.kind === 'refused' ? r.objects : [];
  }

  workloadByKey(key: string): WorkloadRecord | undefined {
    // resourceId({ kind: 'workload', key }) without the object: this runs per request.
    const r = this.#records.get(`workload:${key}`);
    return r?.kind === 'workload' ? r : undefined;
  }

  /** A pod scheduled here or elsewhere that has no address yet (decided on at its CNI ADD). */
  pendingByKey(key: string): PendingWorkloadRecord | undefined {
    const r = this.#records.get(resourceId({ kind: 'pending-workload', key }));
    return r?.kind === 'pending-workload' ? r : undefined;
  }

  serviceByKey(key: string): ServiceRecord | undefined {
    const r = this.#records.get(resourceId({ kind: 'service', key }));
    return r?.kind === 'service' ? r : undefined;
  }

  /** The Service (and port) whose cluster IP and TCP port this is. */
  serviceByAddress(ip: string, port: number): ServiceMatch | undefined {
    return this.#byAddress.get(addressKey(ip, port));
  }

  /** HTTPRoutes whose parentRefs name this Service (any port); empty when none. */
  routesFor(serviceKey: string): readonly RouteRecord[] {
    return this.#routesByParent.get(serviceKey) ?? NO_ROUTES;
  }

  nodeAddress(name: string): string | undefined {
    return this.#nodes.get(name)?.address;
  }

  /**
   * Ready workloads behind a service port. A named target port is resolved per workload from the
   * container ports the pod names (WorkloadRecord.namedPorts); a pod that does not name it is no
   * endpoint of that port, as in the EndpointSlices Kubernetes makes.
   */
  endpoints(serviceKey: string, servicePort: number): Endpoint[] {
    const cacheKey = `${serviceKey}|${servicePort}`;
    const cached = this.#endpointCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const svc = this.serviceByKey(serviceKey);
    const port = svc?.ports.find((p) => p.port === servicePort && p.protocol === 'TCP');
    const out: Endpoint[] = [];
    if (svc !== undefined && port !== undefined) {
      const target = port.targetPort;
      for (const r of this.#records.values()) {
        if (r.kind !== 'workload' || !r.ready || r.namespace !== svc.namespace || !selects(svc.selector, r.labels)) continue;
        const to = typeof target === 'number' ? target : namedPort(r, target);
        if (to === undefined) continue;
        out.push({ workload: r, ip: r.ip, port: to, node: r.node, nodeAddress: this.nodeAddress(r.node) });
      }
      out.sort((a, b) => (a.workload.key < b.workload.key ? -1 : 1));
    }
    this.#endpointCache.set(cacheKey, out);
    return out;
  }

  /** Every AuthorizationPolicy record (weft.dev), in no particular order. */
  authorizationPolicies(): PolicyRecord[] {
    const out: PolicyRecord[] = [];
    for (const r of this.#policies.values()) if (r.kind === 'policy') out.push(r);
    return out;
  }

  /** Every MeshPolicy record, in no particular order. */
  meshPolicies(): MeshPolicyRecord[] {
    const out: MeshPolicyRecord[] = [];
    for (const r of this.#policies.values()) if (r.kind === 'meshpolicy') out.push(r);
    return out;
  }

  /** Meshed workloads scheduled on `node`: the pods this agent captures and holds certs for. */
  localWorkloads(node: string): WorkloadRecord[] {
    const out: WorkloadRecord[] = [];
    for (const r of this.#records.values()) if (r.kind === 'workload' && r.meshed && r.node === node) out.push(r);
    return out;
  }

  /** Meshed pods scheduled on `node` that have no address in the model yet. */
  localPending(node: string): PendingWorkloadRecord[] {
    const out: PendingWorkloadRecord[] = [];
    for (const r of this.#records.values()) if (r.kind === 'pending-workload' && r.meshed && r.node === node) out.push(r);
    return out;
  }

  /** Hears every applied message, after the state has changed. Returns the unsubscribe. */
  onChange(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
