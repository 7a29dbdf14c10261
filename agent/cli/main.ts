// `weft`: the node-level debug CLI. Talks to the local agent's admin socket (or --agent
// host:port). Human tables by default, -o json for scripts; errors carry stable codes.
//   weft [--socket PATH | --agent HOST:PORT] [-o table|json] <command> [args]
import { parseArgs } from 'node:util';
import { ErrorCodes, WeftError, isWeftError } from '../../common/errors.ts';
import { DEFAULT_SOCKET, parseAgentAddress, type AgentTarget } from './admin-client.ts';
import { runCheck } from './check.ts';
import { COMMANDS } from './commands.ts';
import { bashCompletion } from './completion.ts';
import { runTap } from './tap.ts';

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`);
  return `weft — node-level debugging for the Weft mesh

Usage: weft [--socket PATH | --agent HOST:PORT] [-o table|json] <command> [args]

Commands:
${lines.join('\n')}
  tap          live connection/request events: --namespace --workload --service --method
               --path-prefix --status-class (1xx..5xx) --count N --duration SECONDS
  check        pre-flight (kernel features) and health (agent, control, certificates); --pre: kernel only
  completion   print a shell completion script: weft completion bash

Flags:
  --socket PATH      the agent's admin socket (default ${DEFAULT_SOCKET}, or $WEFT_ADMIN_SOCKET)
  --agent HOST:PORT  the agent's admin TCP port instead (15020 on the node's loopback)
  -o, --output       table (default) or json
`;
}

function intOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new WeftError(ErrorCodes.CLI_USAGE, `--${name} wants a positive number, got "${v}"`);
  return n;
}

export async function main(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        socket: { type: 'string' }, agent: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' },
        help: { type: 'boolean', short: 'h' }, by: { type: 'string' }, pre: { type: 'boolean' },
        namespace: { type: 'string' }, workload: { type: 'string' }, service: { type: 'string' }, method: { type: 'string' },
        'path-prefix': { type: 'string' }, 'status-class': { type: 'string' }, count: { type: 'string' }, duration: { type: 'string' },
      },
    }));
  } catch (e) {
    err(`${(e as Error).message} (${ErrorCodes.CLI_USAGE})\n\n${usage()}`);
    return 2;
  }
  const [cmd, ...args] = positionals;
  if (values.help === true || cmd === undefined || cmd === 'help') {
    out(usage());
    return cmd === undefined && values.help !== true ? 2 : 0;
  }
  if (values.output !== 'table' && values.output !== 'json') {
    err(`-o wants table or json, got "${values.output}" (${ErrorCodes.CLI_USAGE})\n`);
    return 2;
  }
  const json = values.output === 'json';
  const fail = (e: unknown): number => {
    if (isWeftError(e)) {
      if (json) out(JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n');
      err(`weft: ${e.message}${e.message.includes(e.code) ? '' : ` (${e.code})`}\n`);
      return e.code === ErrorCodes.CLI_USAGE ? 2 : 1;
    }
    err(`weft: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  };
  try {
    if (cmd === 'completion') {
      if ((args[0] ?? 'bash') !== 'bash') throw new WeftError(ErrorCodes.CLI_USAGE, `only bash completion is available, not "${args[0]}"`);
      out(bashCompletion());
      return 0;
    }
    const target: AgentTarget = values.agent !== undefined
      ? parseAgentAddress(values.agent)
      : { socket: values.socket ?? process.env.WEFT_ADMIN_SOCKET ?? DEFAULT_SOCKET };
    if (cmd === 'check') {
      const r = await runCheck(target, values.pre === true);
      out(json ? JSON.stringify(r.json, null, 2) + '\n' : r.human);
      return r.exitCode;
    }
    if (cmd === 'tap') {
      const filters: Record<string, string> = {};
      for (const [flag, param] of [['namespace', 'namespace'], ['workload', 'workload'], ['service', 'service'], ['method', 'method'], ['path-prefix', 'path_prefix'], ['status-class', 'status_class']] as const) {
        const v = values[flag];
        if (v !== undefined) filters[param] = v;
      }
      const dur = intOpt('duration', values.duration);
      return await runTap(target, { filters, json, count: intOpt('count', values.count), durationMs: dur === undefined ? undefined : dur * 1000, out: (l) => out(l + '\n') });
    }
    const c = COMMANDS.find((x) => x.name === cmd);
    if (c === undefined) throw new WeftError(ErrorCodes.CLI_USAGE, `unknown command "${cmd}"; try: ${[...COMMANDS.map((x) => x.name), 'tap', 'check', 'completion'].join(', ')}`);
    const r = await c.run({ target, args, flags: { by: values.by } });
    out(json ? JSON.stringify(r.json, null, 2) + '\n' : r.human);
    return r.exitCode ?? 0;
  } catch (e) {
    return fail(e);
  }
}

// Run when executed (the bundle, or `node agent/cli/main.ts`), not when imported by tests.
const entry = process.argv[1] ?? '';
if (entry.endsWith('weft.mjs') || entry.endsWith('cli/main.ts')) {
  main(process.argv.slice(2), (s) => process.stdout.write(s), (s) => process.stderr.write(s)).then((code) => {
    process.exitCode = code;
  });
}
