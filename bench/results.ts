// The raw results file (bench/results/<date>.json) and the medians the README is made from.
import type { HotFunction } from './cpu-profile.ts';
import type { RunRecord } from './runner.ts';
import type { Workload } from './workloads.ts';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  haproxy: string;
  /** Always true on the development machine: other engineers' tests ran at the same time. */
  shared: boolean;
}

export interface IdleReading {
  config: string;
  name: string;
  rssMiB: number;
  /** CPU use while idle, in % of one core (absent in results from before it was measured). */
  cpuPercent?: number;
}

export interface HotSpots {
  node: string;
  workload: string;
  files: number;
  totalMs: number;
  /** Share of self time in the repository's own code (absent in older results). */
  weftPercent?: number;
  top: HotFunction[];
}

export interface BenchResults {
  date: string;
  profile: string;
  rounds: number;
  workers: number;
  machine: MachineInfo;
  configs: { id: string; label: string; path: string }[];
  workloads: Workload[];
  idle: IdleReading[];
  runs: RunRecord[];
  hotSpots: HotSpots[];
  durationS: number;
}

export function median(xs: number[]): number | undefined {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Successful runs of one workload in one configuration. */
export function runsOf(r: BenchResults, workload: string, config: string): RunRecord[] {
  return r.runs.filter((x) => x.workload === workload && x.config === config && x.error === undefined);
}

/** Median over rounds of one number taken from each run. */
export function med(r: BenchResults, workload: string, config: string, pick: (x: RunRecord) => number | undefined): number | undefined {
  return median(runsOf(r, workload, config).map(pick).filter((v): v is number => v !== undefined));
}

/** CPU µs per request of the named proxy process in a run. */
export function cpuPerRequest(x: RunRecord, proxy: string): number | undefined {
  const p = x.proxies.find((q) => q.name === proxy);
  return p === undefined || x.requests === 0 ? undefined : p.cpuUs / x.requests;
}

/** The proxy process names that appear in a configuration's runs, in order. */
export function proxyNames(r: BenchResults, config: string): string[] {
  const names: string[] = [];
  for (const x of r.runs) if (x.config === config) for (const p of x.proxies) if (!names.includes(p.name)) names.push(p.name);
  return names;
}
