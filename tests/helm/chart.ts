// Runs the real helm binary against helm/weft and turns what it renders into objects, plus the
// checks that span objects (references between them) which a per-object shape cannot see.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { helmBinary } from '../../scripts/helm-binary.ts';
import { check, checkCrdSchema, KINDS } from './k8s-shapes.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'helm/weft');
export const NAMESPACE = 'weft-system';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export interface HelmRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `values` written to a temporary values file (removed even if helm fails). */
export function helm(args: string[], values?: unknown): HelmRun {
  const dir = mkdtempSync(join(tmpdir(), 'helm-chart-test-'));
  try {
    const extra: string[] = [];
    if (values !== undefined) {
      const file = join(dir, 'values.yaml');
      writeFileSync(file, stringify(values));
      extra.push('-f', file);
    }
    const r = spawnSync(helmBinary(), [...args, ...extra], {
      encoding: 'utf8',
      // Keep helm away from the user's repositories and caches.
      env: { PATH: process.env.PATH, HOME: dir, HELM_CACHE_HOME: join(dir, 'cache'), HELM_CONFIG_HOME: join(dir, 'config'), HELM_DATA_HOME: join(dir, 'data') },
      timeout: 60_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function template(values?: unknown): HelmRun {
  return helm(['template', 'weft', CHART, '--namespace', NAMESPACE], values);
}

/** Renders and parses; throws with helm's message if rendering fails. */
export function render(values?: unknown): K8sObject[] {
  const r = template(values);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind}/${name} rendered; have ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

// Objects the chart references but does not always render: documented prerequisites.
const EXTERNAL = new Set(['ConfigMap/weft-trust-bundle', 'Secret/weft-trust-anchor', 'PriorityClass/system-node-critical']);

interface PodSpecLike {
  containers: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }>; volumeMounts?: Array<{ name: string }>; envFrom?: Array<{ configMapRef?: { name: string } }>; readinessProbe?: { httpGet?: { port: number | string } }; livenessProbe?: { httpGet?: { port: number | string } } }>;
  volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string } }>;
  serviceAccountName?: string;
}

function podOf(o: K8sObject): { labels: Record<string, string>; spec: PodSpecLike } | null {
  const spec = o.spec as { template?: { metadata: { labels: Record<string, string> }; spec: PodSpecLike } } | undefined;
  return spec?.template === undefined ? null : { labels: spec.template.metadata.labels, spec: spec.template.spec };
}

/** Every problem in a rendered manifest set: shapes per object, then references between them. */
export function validate(objs: K8sObject[]): string[] {
  const errs: string[] = [];
  const have = new Set(objs.map((o) => `${o.kind}/${o.metadata?.name}`));
  const exists = (ref: string): boolean => have.has(ref) || EXTERNAL.has(ref);
  const seen = new Set<string>();
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata?.name}`;
    const shape = KINDS[`${o.apiVersion} ${o.kind}`];
    if (shape === undefined) {
      errs.push(`${id}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`);
      continue;
    }
    errs.push(...check(o, shape).map((e) => `${id}: ${e}`));
    if (seen.has(id)) errs.push(`${id}: rendered twice`);
    seen.add(id);
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(o.metadata?.name ?? '')) errs.push(`${id}: invalid name`);
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'].includes(o.kind);
    if (!clusterScoped && o.metadata.namespace !== NAMESPACE) errs.push(`${id}: expected namespace ${NAMESPACE}`);
    if (o.kind === 'CustomResourceDefinition') {
      const spec = o.spec as { group: string; names: { plural: string }; versions: Array<{ schema: { openAPIV3Schema: unknown }; storage: boolean }> };
      if (o.metadata.name !== `${spec.names.plural}.${spec.group}`) errs.push(`${id}: name must be <plural>.<group>`);
      if (spec.versions.filter((v) => v.storage).length !== 1) errs.push(`${id}: exactly one storage version`);
      for (const v of spec.versions) errs.push(...checkCrdSchema(v.schema.openAPIV3Schema).map((e) => `${id}: ${e}`));
    }
    const pod = podOf(o);
    if (pod !== null) {
      const sel = ((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
      for (const [k, v] of Object.entries(sel)) if (pod.labels[k] !== v) errs.push(`${id}: selector ${k}=${v} does not match the pod template`);
      const volumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
      if (volumes.size !== (pod.spec.volumes ?? []).length) errs.push(`${id}: duplicate volume names`);
      for (const v of pod.spec.volumes ?? []) {
        if (v.configMap !== undefined && !exists(`ConfigMap/${v.configMap.name}`)) errs.push(`${id}: volume ${v.name} uses missing ConfigMap ${v.configMap.name}`);
        if (v.secret !== undefined && !exists(`Secret/${v.secret.secretName}`)) errs.push(`${id}: volume ${v.name} uses missing Secret ${v.secret.secretName}`);
      }
      if (pod.spec.serviceAccountName !== undefined && !have.has(`ServiceAccount/${pod.spec.serviceAccountName}`)) errs.push(`${id}: missing ServiceAccount ${pod.spec.serviceAccountName}`);
      for (const c of pod.spec.containers) {
        const portNames = new Set((c.ports ?? []).map((p) => p.name).filter((n) => n !== undefined));
        const portNumbers = new Set((c.ports ?? []).map((p) => p.containerPort));
        for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) errs.push(`${id}: container ${c.name} mounts unknown volume ${m.name}`);
        for (const e of c.envFrom ?? []) if (e.configMapRef !== undefined && !exists(`ConfigMap/${e.configMapRef.name}`)) errs.push(`${id}: envFrom missing ConfigMap ${e.configMapRef.name}`);
        for (const p of [c.readinessProbe, c.livenessProbe]) {
          const port = p?.httpGet?.port;
          if (typeof port === 'string' && !portNames.has(port)) errs.push(`${id}: probe uses unknown port name ${port}`);
          if (typeof port === 'number' && !portNumbers.has(port)) errs.push(`${id}: probe port ${port} is not a container port`);
        }
      }
    }
    if (o.kind === 'Service') {
      const spec = o.spec as { selector?: Record<string, string>; ports: Array<{ targetPort?: number | string }> };
      const targets = objs.map(podOf).filter((p) => p !== null && Object.entries(spec.selector ?? {}).every(([k, v]) => p.labels[k] === v));
      if (spec.selector !== undefined && targets.length === 0) errs.push(`${id}: selects no workload`);
      for (const p of spec.ports) {
        if (typeof p.targetPort !== 'string') continue;
        if (!targets.some((t) => t?.spec.containers.some((c) => c.ports?.some((cp) => cp.name === p.targetPort)))) errs.push(`${id}: targetPort ${p.targetPort} is not a port of the selected pods`);
      }
    }
    if (o.kind === 'ClusterRoleBinding') {
      const b = o as unknown as { roleRef: { name: string }; subjects: Array<{ kind: string; name: string }> };
      if (!have.has(`ClusterRole/${b.roleRef.name}`)) errs.push(`${id}: binds missing ClusterRole ${b.roleRef.name}`);
      for (const s of b.subjects) if (s.kind === 'ServiceAccount' && !have.has(`ServiceAccount/${s.name}`)) errs.push(`${id}: binds missing ServiceAccount ${s.name}`);
    }
  }
  return errs;
}
