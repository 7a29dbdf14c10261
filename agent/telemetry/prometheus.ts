// Prometheus text exposition (format 0.0.4, which OpenMetrics scrapers also accept) of a merged
// snapshot. Empty label values are left out: in Prometheus an empty label equals an absent one.
import { DURATION_BOUNDARIES } from './histogram.ts';
import { METRICS, type Attrs } from './catalog.ts';
import type { TelemetrySnapshot } from './aggregates.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(a: Attrs, extra?: string): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(a)) if (v !== '') parts.push(`${k}="${escapeValue(v)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

export function renderPrometheus(s: TelemetrySnapshot): string {
  const out: string[] = [];
  for (const m of METRICS) {
    out.push(`# HELP ${m.prom} ${m.help}`);
    out.push(`# TYPE ${m.prom} ${m.kind}`);
    if (m.kind !== 'histogram') {
      for (const p of m.points(s)) out.push(`${m.prom}${labelText(p.attrs)} ${num(p.value)}`);
      continue;
    }
    for (const p of m.points(s)) {
      let cum = 0;
      for (let i = 0; i < DURATION_BOUNDARIES.length; i++) {
        cum += p.value.counts[i];
        out.push(`${m.prom}_bucket${labelText(p.attrs, `le="${DURATION_BOUNDARIES[i]}"`)} ${cum}`);
      }
      out.push(`${m.prom}_bucket${labelText(p.attrs, 'le="+Inf"')} ${p.value.count}`);
      out.push(`${m.prom}_sum${labelText(p.attrs)} ${num(p.value.sum)}`);
      out.push(`${m.prom}_count${labelText(p.attrs)} ${p.value.count}`);
    }
  }
  return out.join('\n') + '\n';
}
