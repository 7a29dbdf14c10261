// How the redirector runs iptables/ip: an injectable function, so unit tests capture the
// batches and testbed tests run the same code inside a node namespace (ip netns exec).
import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when the command could not start or died on a signal. */
  code: number;
}

export type CommandRunner = (cmd: string, args: readonly string[], input?: string) => Promise<CommandResult>;

export const runCommand: CommandRunner = (cmd, args, input) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let startError = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading: its exit code tells.
    child.on('error', (e) => { startError = e.message; });
    child.on('close', (code) => {
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() + startError, code: code ?? -1 });
    });
    child.stdin.end(input ?? '');
  });
