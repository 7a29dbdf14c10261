// The golden-metric columns every table shares (success, rate, p50/p95/p99), with the health
// colour and a text marker, so unhealthy rows stand out without relying on colour alone.
import { h } from './dom.ts';
import { health, latency, pct, rate, unitOf, type Golden } from './format.ts';
import type { Column } from './table.ts';

export function successCell(g: Golden): HTMLElement {
  const hl = health(g.successRate);
  return h('span', { class: `health ${hl}`, title: `${g.failures} failed of ${g.requests}` }, hl === 'bad' ? '▼ ' : hl === 'warn' ? '△ ' : '', pct(g.successRate));
}

export function goldenColumns<T>(get: (r: T) => Golden, prefix = ''): Column<T>[] {
  return [
    { key: `${prefix}success`, label: 'Success', numeric: true, value: (r) => get(r).successRate, render: (r) => successCell(get(r)) },
    { key: `${prefix}rate`, label: 'Rate', numeric: true, value: (r) => get(r).rate, render: (r) => rate(get(r).rate, ` ${unitOf(get(r))}`) },
    { key: `${prefix}p50`, label: 'P50', numeric: true, value: (r) => get(r).p50, render: (r) => latency(get(r).p50) },
    { key: `${prefix}p95`, label: 'P95', numeric: true, value: (r) => get(r).p95, render: (r) => latency(get(r).p95) },
    { key: `${prefix}p99`, label: 'P99', numeric: true, value: (r) => get(r).p99, render: (r) => latency(get(r).p99) },
  ];
}
