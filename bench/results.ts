// The raw results file (bench/results/<date>.json) and the medians the README is made from.
import type { HotFunction } from './cpu-profile.ts';
import type { SideResult } from './lib/side-results.ts';
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
  /** The 1-minute load average over the measured runs, sampled every few seconds (absent in older files). */
  loadAverage?: { min: number; median: number; max: number; samples: number };
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

/** bench/ca-signing.ts's line. */
export interface CaSigningResult {
  signingsPerSecond: number;
  n: number;
  /** 1-minute load average when it was measured (absent in older files). */
  loadAverage?: number;
}

/** bench/control-scale.ts's line (the fields the README uses). */
export interface ControlScaleResult {
  pods: number;
  nodes: number;
  agents: number;
  propagationMs: { p50: number; p99: number; max: number; samples: number };
  controlRssMiB: { synced: number; afterChanges: number };
  agentSideKiBPerAgent: number;
  loadAverage?: number;
}

export interface BenchResults {
  date: string;
  profile: string;
  rounds: number;
  workers: number;
  /** WEFT_WORKERS the agents ran with: 'default' = unset; absent (files before 2026-12-07) = `workers`. */
  agentWorkers?: string;
  machine: MachineInfo;
  configs: { id: string; label: string; path: string }[];
  workloads: Workload[];
  idle: IdleReading[];
  runs: RunRecord[];
  hotSpots: HotSpots[];
  durationS: number;
  /** Newest saved results of the control scripts when this run was written (absent in older files). */
  caSigning?: SideResult<CaSigningResult>;
  controlScale?: SideResult<ControlScaleResult>;
}

/** min / median / max of load-average samples, rounded to a tenth. */
export function loadSummary(samples: number[]): MachineInfo['loadAverage'] {
  const m = median(samples);
  if (m === undefined) return undefined;
  const r = (v: number): number => Math.round(v * 10) / 10;
  return { min: r(Math.min(...samples)), median: r(m), max: r(Math.max(...samples)), samples: samples.length };
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

/** The configurations a workload ran against, in table order. */
export function configsOf(r: BenchResults, workload: string): BenchResults['configs'] {
  return r.configs.filter((c) => r.runs.some((x) => x.workload === workload && x.config === c.id));
}

/** A proxy's RSS growth per 1000 held connections in an idle-connection run. */
export function rssPerThousand(x: RunRecord, proxy: string): number | undefined {
  const m = x.idle?.memory.find((q) => q.name === proxy);
  if (m === undefined || x.idle === undefined || x.idle.open <= 0) return undefined;
  const v = ((m.heldMiB - m.beforeMiB) / x.idle.open) * 1000;
  return Number.isFinite(v) ? v : undefined;
}

/** The proxy process names that appear in a configuration's runs, in order. */
export function proxyNames(r: BenchResults, config: string): string[] {
  const names: string[] = [];
  for (const x of r.runs) if (x.config === config) for (const p of x.proxies) if (!names.includes(p.name)) names.push(p.name);
  return names;
}
