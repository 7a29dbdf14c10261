// The agent checks every record it is sent before any of a message is applied: a record it
// cannot route by is a reason to nack the whole message and keep the state it has.
import type { ResourceRecord } from '../../control/api/model.ts';
import { checkMeshPolicyRecord, checkPolicyRecord } from '../policy/record-check.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
const isStrMap = (v: unknown): boolean => isObj(v) && Object.values(v).every((x) => typeof x === 'string');

/** Null when `r` is a well-formed record, else what is wrong with it. */
export function checkRecord(r: unknown): string | null {
  if (!isObj(r)) return 'record is not an object';
  if (!isStr(r.key)) return 'record has no key';
  const where = `${String(r.kind)} ${JSON.stringify(r.key)}`;
  switch (r.kind) {
    case 'workload':
      for (const f of ['uid', 'name', 'namespace', 'node', 'ip', 'serviceAccount', 'identity'] as const) {
        if (!isStr(r[f])) return `${where}: ${f} must be a non-empty string`;
      }
      if (!isStrMap(r.labels)) return `${where}: labels must map strings to strings`;
      if (typeof r.meshed !== 'boolean' || typeof r.ready !== 'boolean') return `${where}: meshed and ready must be booleans`;
      if (r.namedPorts !== undefined && !(isObj(r.namedPorts) && Object.values(r.namedPorts).every(isPort))) return `${where}: namedPorts must map names to port numbers`;
      return null;
    case 'pending-workload':
      for (const f of ['uid', 'name', 'namespace', 'node', 'serviceAccount', 'identity'] as const) {
        if (!isStr(r[f])) return `${where}: ${f} must be a non-empty string`;
      }
      if (!isStrMap(r.labels)) return `${where}: labels must map strings to strings`;
      if (typeof r.meshed !== 'boolean') return `${where}: meshed must be a boolean`;
      return null;
    case 'service': {
      if (!isStr(r.name) || !isStr(r.namespace)) return `${where}: name and namespace are required`;
      if (r.clusterIP !== null && !isStr(r.clusterIP)) return `${where}: clusterIP must be an address or null`;
      if (!isStrMap(r.selector)) return `${where}: selector must map strings to strings`;
      if (!Array.isArray(r.ports)) return `${where}: ports must be a list`;
      for (const p of r.ports as unknown[]) {
        if (!isObj(p) || !isPort(p.port)) return `${where}: every port needs a port number`;
        if (!isPort(p.targetPort) && !isStr(p.targetPort)) return `${where}: targetPort of ${String(p.port)} must be a number or a name`;
        if (p.protocol !== 'TCP' && p.protocol !== 'UDP' && p.protocol !== 'SCTP') return `${where}: protocol of ${String(p.port)} must be TCP, UDP or SCTP`;
      }
      return null;
    }
    case 'route': {
      if (!isStr(r.name) || !isStr(r.namespace) || typeof r.createdAt !== 'string') return `${where}: name, namespace and createdAt are required`;
      if (!Array.isArray(r.parents) || !(r.parents as unknown[]).every((p) => isObj(p) && isStr(p.service))) return `${where}: parents must name services`;
      if (!Array.isArray(r.rules)) return `${where}: rules must be a list`;
      for (const rule of r.rules as unknown[]) {
        if (!isObj(rule) || !Array.isArray(rule.matches) || !Array.isArray(rule.backends)) return `${where}: every rule needs matches and backends lists`;
        for (const b of rule.backends as unknown[]) {
          if (!isObj(b) || !isStr(b.service) || !isPort(b.port) || typeof b.weight !== 'number' || b.weight < 0) return `${where}: every backend needs a service, a port and a weight >= 0`;
        }
      }
      return null;
    }
    case 'node':
      if (!isStr(r.name) || !isStr(r.address)) return `${where}: name and address are required`;
      return null;
    case 'trust':
      if (!isStr(r.version) || !isStr(r.signing)) return `${where}: version and signing are required`;
      if (!Array.isArray(r.anchors) || r.anchors.length === 0 || !r.anchors.every(isStr)) return `${where}: anchors must be a non-empty list of fingerprints`;
      return null;
    case 'refused':
      if (!Array.isArray(r.objects)) return `${where}: objects must be a list`;
      for (const o of r.objects as unknown[]) {
        if (!isObj(o) || !isStr(o.kind) || !isStr(o.name) || typeof o.namespace !== 'string' || typeof o.reason !== 'string') return `${where}: every object needs a kind, a namespace, a name and a reason`;
        if (o.inForce !== 'last-good' && o.inForce !== 'none') return `${where}: inForce must be last-good or none`;
      }
      return null;
    case 'policy':
      return checkPolicyRecord(r, where);
    case 'meshpolicy':
      return checkMeshPolicyRecord(r, where);
    default:
      return `unknown record kind ${JSON.stringify(r.kind)}`;
  }
}

/** Checks a list; the first problem, or null. Narrows to ResourceRecord[] when null. */
export function checkRecords(rs: unknown): string | null {
  if (!Array.isArray(rs)) return 'records must be a list';
  for (const r of rs) {
    const problem = checkRecord(r);
    if (problem !== null) return problem;
  }
  return null;
}

export function isRecordList(rs: unknown): rs is ResourceRecord[] {
  return checkRecords(rs) === null;
}
