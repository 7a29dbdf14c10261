// How numbers read on screen. Unknown is an en dash, never 0: "no traffic" and "0 %" differ.
export const NONE = '–';

import type { Golden } from '../wire.ts';

export type { Golden };

export function pct(v: number | null): string {
  if (v === null) return NONE;
  const p = v * 100;
  return `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

export function rate(v: number, unit = '/s'): string {
  if (v === 0) return `0${unit}`;
  if (v < 0.1) return `${v.toFixed(3)}${unit}`;
  if (v < 10) return `${v.toFixed(2)}${unit}`;
  return `${v.toFixed(0)}${unit}`;
}

export function latency(seconds: number | null): string {
  if (seconds === null) return NONE;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
  return `${seconds.toFixed(2)} s`;
}

export function bytes(v: number): string {
  if (v < 1024) return `${v.toFixed(0)} B/s`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB/s`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB/s`;
}

export function clock(ms: number | string): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Health class of a success rate: the threshold operators usually alert on. */
export function health(v: number | null): 'ok' | 'warn' | 'bad' | 'idle' {
  if (v === null) return 'idle';
  if (v < 0.95) return 'bad';
  if (v < 0.99) return 'warn';
  return 'ok';
}

/** What a "request" is on this row: HTTP requests, or TCP connections before L7 metrics. */
export function unitOf(g: Golden): string {
  return g.protocol === 'tcp' ? 'conn/s' : g.protocol === 'none' ? '/s' : 'req/s';
}

export function workloadLabel(key: string): string {
  return key === '' ? '(outside the mesh)' : key;
}

export function shortIdentity(id: string): string {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return m === null ? id || NONE : `${m[1]}/${m[2]}`;
}
