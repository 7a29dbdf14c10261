// Runs a test app as a child process the way the testbed does (node <file> flags), waits for its
// {"ready":true} line and collects its later JSON lines. Tests and the harness stop it with stop(),
// which sends SIGTERM and escalates to SIGKILL, so no child outlives a failed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface RunningApp {
  child: ChildProcess;
  ready: Record<string, unknown>;
  /** JSON lines after the ready line, in order. */
  lines: Record<string, unknown>[];
  stderr(): string;
  /** Resolves when `n` lines (after ready) have arrived, or rejects after timeoutMs. */
  waitForLines(n: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  /** Resolves with the first line (after ready) matching `pred`, or rejects after timeoutMs. */
  waitForLine(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code (null if killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  /** Resolves with the exit code once the process ends by itself. */
  exited: Promise<number | null>;
}

export function appPath(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** Starts the app's process; the testbed passes one that runs it inside a pod's namespace. */
export type Launch = (cmd: string, args: string[]) => ChildProcess;
const launchHere: Launch = (cmd, args) => spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

export interface ExitedApp {
  code: number | null;
  stdout: Record<string, unknown>[];
  stderr: string;
}

/** Runs an app to completion (clients, bad-flag checks). */
export function runApp(file: string, args: string[], timeoutMs = 20_000, launch: Launch = launchHere): Promise<ExitedApp> {
  return new Promise((resolve, reject) => {
    const child = launch(process.execPath, [file, ...args]);
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, stdout: lines, stderr: err });
    });
  });
}

export function startApp(file: string, args: string[], readyTimeoutMs = 10_000, launch: Launch = launchHere): Promise<RunningApp> {
  const child = launch(process.execPath, [file, ...args]);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  // 'close', not 'exit': stdout is fully read by then, so a ready line is never lost to a race.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));

  return new Promise((resolve, reject) => {
    let ready: Record<string, unknown> | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} not ready within ${readyTimeoutMs} ms; stderr: ${err}`));
    }, readyTimeoutMs);
    void exited.then((code) => {
      if (ready === undefined) {
        clearTimeout(timer);
        reject(new Error(`${file} exited (${code}) before ready; stderr: ${err}`));
      }
      for (const w of waiters) w();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (ready !== undefined) {
        lines.push(rec);
        for (const w of waiters) w();
        return;
      }
      if (rec.ready !== true) return;
      ready = rec;
      clearTimeout(timer);
      resolve({
        child, ready, lines, exited,
        stderr: () => err,
        waitForLines(n, timeoutMs = 10_000) {
          return new Promise((res, rej) => {
            const check = (): void => {
              if (lines.length >= n) { clearTimeout(t); res(lines.slice(0, n)); }
              else if (child.exitCode !== null) { clearTimeout(t); rej(new Error(`exited with ${lines.length}/${n} lines; stderr: ${err}`)); }
            };
            const t = setTimeout(() => rej(new Error(`only ${lines.length}/${n} lines after ${timeoutMs} ms`)), timeoutMs);
            waiters.push(check);
            check();
          });
        },
        waitForLine(pred, timeoutMs = 10_000) {
          return new Promise((res, rej) => {
            const check = (): void => {
              const found = lines.find(pred);
              if (found !== undefined) { clearTimeout(t); res(found); }
              else if (child.exitCode !== null) { clearTimeout(t); rej(new Error(`exited before a matching line; stderr: ${err}`)); }
            };
            const t = setTimeout(() => rej(new Error(`no matching line after ${timeoutMs} ms`)), timeoutMs);
            waiters.push(check);
            check();
          });
        },
        async stop(graceMs = 3000) {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const code = await exited;
          clearTimeout(t);
          return code;
        },
      });
    });
  });
}
