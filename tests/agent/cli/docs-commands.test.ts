// Every `weft …` command line the user documentation shows must be one the CLI accepts: the
// oracle is the CLI's own strict argument parser (an unknown command or flag is a usage error,
// exit 2, WEFT_ERR_CLI_USAGE), run against an agent socket that does not exist, so a command that
// parses fails later with "cannot reach the agent" instead. (troubleshooting.md once promised a
// `--control` flag of `weft check` that was never built.)
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { main } from '../../../agent/cli/main.ts';
import { ErrorCodes } from '../../../common/errors.ts';

const DOCS = [...readdirSync('docs').filter((f) => f.endsWith('.md') && f !== 'design-notes.md').map((f) => `docs/${f}`), 'README.md'];
const MISSING_SOCKET = '/run/weft-test-docs-commands/none.sock';

/** `weft` invocations in inline code spans and after `-- ` (kubectl exec … -- weft …) in code blocks. */
function documentedCommands(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/`weft ([^`]+)`/g)) found.push(m[1]);
  for (const m of text.matchAll(/(?:^|\s)-- weft ([^\n#`|]+)/gm)) found.push(m[1]);
  return found
    .map((c) => c.trim())
    // Placeholders (`weft ...`) and prose around the command are not commands.
    .filter((c) => c.length > 0 && !c.startsWith('...') && !c.startsWith('…'));
}

async function run(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main([...args, '--socket', MISSING_SOCKET], () => {}, (s) => { err += s; });
  return { code, err };
}

t.test('the oracle refuses what the CLI does not have', async (t) => {
  for (const bad of [['check', '--control'], ['nosuch']]) {
    const r = await run(bad);
    t.equal(r.code, 2, `weft ${bad.join(' ')} is a usage error`);
    t.match(r.err, ErrorCodes.CLI_USAGE);
  }
});

t.test('every documented weft command parses', async (t) => {
  let n = 0;
  for (const file of DOCS) {
    for (const cmd of documentedCommands(readFileSync(file, 'utf8'))) {
      // Upper-case words are placeholders the reader fills in (NAME, POD); they parse as arguments.
      const args = cmd.split(/\s+/).filter((a) => a.length > 0);
      if (args[0] === '--agent' || args[0] === '--socket') continue; // a flag named in prose, not a command line
      const r = await run(args);
      n++;
      t.not(r.code, 2, `${file}: \`weft ${cmd}\` is accepted (${r.err.split('\n')[0]})`);
      t.notMatch(r.err, ErrorCodes.CLI_USAGE, `${file}: \`weft ${cmd}\` is not a usage error`);
    }
  }
  t.ok(n >= 10, `found the documented commands (${n})`);
});
