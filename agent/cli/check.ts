// `weft check`: pre-flight (can this node run the agent?) and health (is it doing its job?).
// Each check reports ok / warn / fail / skip with a detail that says what to do; any fail makes
// the exit code 1.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { WeftError, ErrorCodes } from '../../common/errors.ts';
import { getJson, getRaw, type AgentTarget } from './admin-client.ts';
import { table } from './table.ts';
import { featureCheck, featureState, readKernelSources, TPROXY_FEATURES } from './kernel-modules.ts';
import { redirectCheck, type RedirectStatus } from '../redirect/redirect-status.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
export interface CheckResult { group: string; name: string; status: CheckStatus; detail: string }

/** Certificates closer than this to expiry are a warning: rotation should have happened by now. */
const EXPIRY_WARN_MS = 60 * 60 * 1000;

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

function run(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 5000 }, (err, out) => resolve(err === null ? out.trim() : null)));
}

export async function kernelChecks(): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  out.push((await exists('/proc/self/ns/net'))
    ? { group: 'kernel', name: 'network namespaces', status: 'ok', detail: '/proc/self/ns/net present' }
    : { group: 'kernel', name: 'network namespaces', status: 'fail', detail: 'no /proc/self/ns/net: the kernel lacks CONFIG_NET_NS' });
  const sources = await readKernelSources(TPROXY_FEATURES);
  for (const f of TPROXY_FEATURES) out.push({ group: 'kernel', name: f.module, ...featureCheck(f, featureState(f, sources)) });
  const ipt = await run('iptables', ['--version']);
  out.push(ipt === null
    ? { group: 'kernel', name: 'iptables', status: 'fail', detail: 'iptables not found on PATH: iptables redirect mode cannot install its rules' }
    : { group: 'kernel', name: 'iptables', status: 'ok', detail: ipt });
  // Pod scope enters each pod's namespace to apply its rules (nsenter --net=PATH).
  const nsenter = await run('nsenter', ['--version']);
  out.push(nsenter === null
    ? { group: 'kernel', name: 'nsenter (pod scope)', status: 'warn', detail: 'nsenter not found on PATH: redirect.scope=pod cannot install rules inside pods (util-linux); node scope is unaffected' }
    : { group: 'kernel', name: 'nsenter (pod scope)', status: 'ok', detail: nsenter });
  out.push((await exists('/sys/kernel/btf/vmlinux'))
    ? { group: 'kernel', name: 'BTF (eBPF mode)', status: 'ok', detail: '/sys/kernel/btf/vmlinux present' }
    : { group: 'kernel', name: 'BTF (eBPF mode)', status: 'warn', detail: 'no /sys/kernel/btf/vmlinux: eBPF redirect mode needs a BTF-enabled kernel; iptables mode is unaffected' });
  return out;
}

interface CertRow { identity: string; state: string; notBefore: string | null; notAfter: string | null; rotateAt: string | null; failures: number; lastError: string | null }
interface ControlSection { connected: boolean; synced: boolean; lastError: { code: string; message: string } | null; clockOffsetMs?: number | null }
interface RefusedRow { kind: string; namespace: string; name: string; reason: string; inForce: string }
interface LogSection { stream: string; failures: number; pending: number; lastError: string | null }

/** Clocks further apart than this are a warning: control backdates certificates by 5 min. */
const SKEW_WARN_MS = 30_000;

export async function agentChecks(t: AgentTarget, now = Date.now()): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const ready = await getRaw(t, '/ready');
  const r = JSON.parse(ready.text) as { ready: boolean; reasons: string[] };
  out.push(r.ready ? { group: 'agent', name: 'ready', status: 'ok', detail: 'the agent reports ready' } : { group: 'agent', name: 'ready', status: 'fail', detail: r.reasons.join('; ') });
  const dump = await getJson<{ redirect?: { mode: string; status?: RedirectStatus; installed?: unknown }; control?: ControlSection; certs?: CertRow[]; logs?: LogSection[]; refused?: RefusedRow[] }>(t, '/config_dump');
  const red = dump.redirect;
  if (red === undefined) out.push({ group: 'agent', name: 'redirection', status: 'skip', detail: 'no redirect section' });
  else out.push({ group: 'agent', name: 'redirection', ...redirectCheck(red.mode, red.status) });
  for (const l of dump.logs ?? []) {
    out.push(l.failures === 0
      ? { group: 'agent', name: `log ${l.stream}`, status: 'ok', detail: 'every line written' }
      : { group: 'agent', name: `log ${l.stream}`, status: 'warn', detail: `${l.failures} line(s) could not be written (${l.lastError ?? 'unknown'}${l.pending > 0 ? ', still failing' : ''}): is the log disk full? The agent keeps serving.` });
  }
  const c = dump.control;
  if (c === undefined) out.push({ group: 'control', name: 'reachable', status: 'skip', detail: 'no control section' });
  else if (c.connected && c.synced) out.push({ group: 'control', name: 'reachable', status: 'ok', detail: 'config stream connected and synced' });
  else {
    const why = c.lastError === null ? '' : `: ${c.lastError.code} ${c.lastError.message}`;
    out.push({ group: 'control', name: 'reachable', status: 'fail', detail: `config stream ${c.connected ? 'connected but not synced' : 'disconnected'}${why} — serving from the last state; is control running and reachable on 15012?` });
  }
  if (dump.refused !== undefined) out.push(...refusedChecks(dump.refused));
  out.push(c?.clockOffsetMs === undefined || c.clockOffsetMs === null
    ? { group: 'control', name: 'clock skew', status: 'skip', detail: 'unknown until control answers a CSR' }
    : skew(c.clockOffsetMs));
  const certs = dump.certs ?? [];
  if (certs.length === 0) out.push({ group: 'identity', name: 'certificates', status: 'skip', detail: 'no workload certificates (no meshed workloads on this node yet)' });
  for (const x of certs) out.push(certCheck(x, now));
  return out;
}

/**
 * Kubernetes objects control refuses (invalid policies, routes…): a warning each, since the rest of
 * the mesh keeps working — but a refused edit is not in force, and a never-good object not at all.
 */
export function refusedChecks(rows: readonly RefusedRow[]): CheckResult[] {
  if (rows.length === 0) return [{ group: 'control', name: 'cluster objects', status: 'ok', detail: 'control accepts every policy, route and object in the cluster' }];
  return rows.map((r) => ({
    group: 'control',
    name: `refused ${r.kind} ${r.namespace === '' ? r.name : `${r.namespace}/${r.name}`}`,
    status: 'warn' as const,
    detail: `${r.reason} (${r.inForce === 'last-good' ? 'its last good version stays in force' : 'not applied at all'})`,
  }));
}

function certCheck(x: CertRow, now: number): CheckResult {
  const base = { group: 'identity', name: x.identity };
  const left = x.notAfter === null ? -1 : Date.parse(x.notAfter) - now;
  const failing = x.failures > 0 ? `${x.failures} failed renewal(s)${x.lastError === null ? '' : ` (${x.lastError})`}` : '';
  if (x.state !== 'valid' || left <= 0) {
    return { ...base, status: 'fail', detail: `certificate ${x.state}${failing === '' ? '' : `, ${failing}`}: connections for this workload fail — check the agent log and that control is reachable` };
  }
  const expires = `expires in ${Math.round(left / 1000)} s (${x.notAfter})`;
  if (failing !== '') return { ...base, status: 'warn', detail: `${failing}; the current certificate ${expires} — is control reachable?` };
  // Rotation runs at about half the lifetime: a certificate well past that point is overdue.
  const overdue = x.rotateAt !== null && now - Date.parse(x.rotateAt) > 60_000;
  if (left < EXPIRY_WARN_MS && overdue) return { ...base, status: 'warn', detail: `${expires}; rotation is overdue` };
  if (x.notBefore !== null && Date.parse(x.notBefore) > now) return { ...base, status: 'warn', detail: `not valid until ${x.notBefore} by this node's clock: peers refuse it until then — check NTP` };
  return { ...base, status: 'ok', detail: `valid until ${x.notAfter}` };
}

function skew(offsetMs: number): CheckResult {
  const d = Math.abs(offsetMs);
  const side = offsetMs > 0 ? 'ahead of' : 'behind';
  return d > SKEW_WARN_MS
    ? { group: 'control', name: 'clock skew', status: 'warn', detail: `control's clock is ${Math.round(d / 1000)} s ${side} this node's: certificates may look not yet valid or expire early — check NTP` }
    : { group: 'control', name: 'clock skew', status: 'ok', detail: `${Math.round(d / 1000)} s (±1 s)` };
}

export async function runCheck(t: AgentTarget, preOnly: boolean): Promise<{ json: unknown; human: string; exitCode: number }> {
  const results = await kernelChecks();
  if (!preOnly) {
    try {
      results.push(...(await agentChecks(t)));
    } catch (err) {
      if (!(err instanceof WeftError)) throw err;
      results.push({ group: 'agent', name: 'reachable', status: 'fail', detail: err.message });
    }
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const human = table(['GROUP', 'CHECK', 'STATUS', 'DETAIL'], results.map((r) => [r.group, r.name, r.status.toUpperCase(), r.detail]))
    + (failed === 0 ? 'all checks passed\n' : `${failed} check(s) failed\n`);
  return { json: { ok: failed === 0, checks: results }, human, exitCode: failed === 0 ? 0 : 1 };
}

export { ErrorCodes };
