// Installing weft-cni into CNI directories (temporary ones standing in for /opt/cni/bin and
// /etc/cni/net.d): copied executable, chained conflist, and nothing left after uninstall.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCniPlugin, uninstallCniPlugin } from '../../../agent/redirect/cni-install.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'weft-t-cni-install-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const binDir = join(dir, 'bin');
const confDir = join(dir, 'net.d');
mkdirSync(binDir);
mkdirSync(confDir);
const original = JSON.stringify({ cniVersion: '1.0.0', name: 'k8s', plugins: [{ type: 'bridge' }, { type: 'portmap' }] });
writeFileSync(join(confDir, '10-bridge.conflist'), original);
writeFileSync(join(confDir, '99-loopback.conf'), '{"type":"loopback"}');

t.test('install, install again, uninstall', async (t) => {
  const source = join(root, 'agent/native/build/weft-cni');
  t.equal(await installCniPlugin({ source, binDir, confDir }), join(confDir, '10-bridge.conflist'));
  t.equal(statSync(join(binDir, 'weft-cni')).mode & 0o777, 0o755);
  t.same(readFileSync(join(binDir, 'weft-cni')), readFileSync(source), 'the executable is the built plugin');
  const chained = JSON.parse(readFileSync(join(confDir, '10-bridge.conflist'), 'utf8')) as { plugins: Array<{ type: string }> };
  t.same(chained.plugins.map((p) => p.type), ['bridge', 'portmap', 'weft-cni']);
  await installCniPlugin({ source, binDir, confDir });
  t.same((JSON.parse(readFileSync(join(confDir, '10-bridge.conflist'), 'utf8')) as typeof chained).plugins.map((p) => p.type), ['bridge', 'portmap', 'weft-cni'], 'chained once');
  await uninstallCniPlugin({ binDir, confDir });
  t.same(JSON.parse(readFileSync(join(confDir, '10-bridge.conflist'), 'utf8')), JSON.parse(original), 'the conflist is as the CNI wrote it');
  t.notOk(existsSync(join(binDir, 'weft-cni')));
  t.equal(readFileSync(join(confDir, '99-loopback.conf'), 'utf8'), '{"type":"loopback"}', 'other files untouched');
  await uninstallCniPlugin({ binDir, confDir });
});

t.test('no conflist yet: a clear error, nothing chained', async (t) => {
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  await t.rejects(installCniPlugin({ source: join(root, 'agent/native/build/weft-cni'), binDir, confDir: empty }), /no \.conflist/);
});
