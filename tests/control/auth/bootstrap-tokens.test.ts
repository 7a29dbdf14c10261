import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeftError } from '../../../common/errors.ts';
import { createNodeAuthenticator, nodeAuthenticatorNames } from '../../../control/auth/authenticator.ts';
import { BootstrapTokenAuthenticator, parseBootstrapTokens } from '../../../control/auth/bootstrap-tokens.ts';

const A = 'token-for-node-a-0123456789';
const B = 'token-for-node-b-9876543210';

t.test('maps a token to its node', async (t) => {
  const auth = new BootstrapTokenAuthenticator({ 'node-a': A, 'node-b': B });
  t.same(await auth.authenticate(A), { node: 'node-a' });
  t.same(await auth.authenticate(B), { node: 'node-b' });
});

t.test('an unknown token is refused without echoing it', async (t) => {
  const auth = new BootstrapTokenAuthenticator(new Map([['node-a', A]]));
  for (const bad of ['wrong-token-wrong-token', A.slice(0, -1), A + 'x', '']) {
    const err = await auth.authenticate(bad).then(() => null, (e: unknown) => e);
    t.ok(isWeftError(err, 'WEFT_ERR_STREAM_UNAUTHENTICATED'), `refused ${JSON.stringify(bad)}`);
    if (bad !== '') t.notMatch((err as Error).message, bad);
  }
});

t.test('refuses short and shared tokens at load time', async (t) => {
  t.throws(() => new BootstrapTokenAuthenticator({ a: 'short' }), { code: 'WEFT_ERR_CONFIG_INVALID' });
  t.throws(() => new BootstrapTokenAuthenticator({ a: A, b: A }), { code: 'WEFT_ERR_CONFIG_INVALID' });
});

t.test('parses line and JSON token files', async (t) => {
  t.same([...parseBootstrapTokens(`# nodes\nnode-a ${A}\n\n  node-b\t${B}  \n`)], [['node-a', A], ['node-b', B]]);
  t.same([...parseBootstrapTokens(JSON.stringify({ 'node-a': A }))], [['node-a', A]]);
  const err = t.throws(() => parseBootstrapTokens(`node-a ${A} extra\n`, 'f.txt'), { code: 'WEFT_ERR_CONFIG_INVALID' }) as unknown as Error;
  t.match(String(err?.message), /f\.txt:1/);
  t.throws(() => parseBootstrapTokens(`node-a ${A}\nnode-a ${B}\n`), { code: 'WEFT_ERR_CONFIG_INVALID' });
  t.throws(() => parseBootstrapTokens('{ "a": 1 }'), { code: 'WEFT_ERR_CONFIG_INVALID' });
});

t.test('registered by name; loads from a file', async (t) => {
  t.ok(nodeAuthenticatorNames().includes('bootstrap-token'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-tokens-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'tokens');
  await writeFile(file, `node-a ${A}\n`);
  const auth = await createNodeAuthenticator('bootstrap-token', { file });
  t.equal(auth.name, 'bootstrap-token');
  t.same(await auth.authenticate(A), { node: 'node-a' });
  const fromTable = await createNodeAuthenticator('bootstrap-token', { tokens: { 'node-b': B } });
  t.same(await fromTable.authenticate(B), { node: 'node-b' });
  await t.rejects(createNodeAuthenticator('bootstrap-token', { file: join(dir, 'missing') }), { code: 'WEFT_ERR_CONFIG_INVALID' });
  await t.rejects(createNodeAuthenticator('nope'), { code: 'WEFT_ERR_CONFIG_INVALID' });
});
