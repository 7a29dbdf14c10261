// The images, built for real with buildah and with Docker BuildKit as docs/install.md says
// (tests/images/build-images.sh, build-images-buildkit.sh),
// and what they hold listed from the image itself (buildah mount): the agent bundle and every chunk
// it imports, the IP_TRANSPARENT addon, one BPF object per ebpf/*.c (so redirectMode: ebpf can
// start), the weft CLI, iptables/ip/tc/bpftool; nothing of the build (no node_modules, no /src), and
// none of the host's own certificate authorities, which the build only ever had as a mounted secret.
// The bundles are run inside the image (buildah run --isolation chroot) to show they load there.
//
// Slow (minutes: a Debian base, apt and npm inside the build) and needs root, buildah, podman,
// mmdebstrap and Debian's docker.io (a private dockerd), so it runs only with WEFT_IMAGE_TESTS=1:
//   WEFT_IMAGE_TESTS=1 tap tests/images/image-build.test.ts
// WEFT_IMAGE_REUSE=1 lists existing localhost/weft-{agent,control}:test images instead of building.
import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentChunks } from '../helm/agent-chunks.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TAG = 'test';

// Each builder the install guide names, with the script that runs it as the guide says.
const BUILDERS = [
  { builder: 'buildah', script: 'build-images.sh', tag: TAG },
  { builder: 'Docker BuildKit', script: 'build-images-buildkit.sh', tag: `${TAG}-buildkit` },
];

if (process.env.WEFT_IMAGE_TESTS !== '1') {
  t.plan(0, 'image builds take minutes and need buildah: set WEFT_IMAGE_TESTS=1');
} else {
  await run();
}

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

/** Runs a build script, streaming nothing, and returns its output and the build times it printed. */
function buildImages(script: string, tag: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', [join(ROOT, 'tests/images', script), tag], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** The PEM certificates of a bundle, whitespace-normalised. */
function certs(text: string): Set<string> {
  return new Set([...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => m[1].replace(/\s+/g, '')));
}

interface Mounted { path: string; container: string }

async function mount(t: Test, image: string): Promise<Mounted> {
  const from = await sh('buildah', ['from', '--pull-never', image]);
  if (from.code !== 0) throw new Error(`buildah from ${image}: ${from.stderr}`);
  const container = from.stdout.trim();
  t.teardown(async () => {
    await sh('buildah', ['umount', container]);
    await sh('buildah', ['rm', container]);
  });
  const m = await sh('buildah', ['mount', container]);
  if (m.code !== 0) throw new Error(`buildah mount: ${m.stderr}`);
  return { path: m.stdout.trim(), container };
}

async function config(image: string): Promise<{ Entrypoint?: string[]; User?: string; Env?: string[] }> {
  const r = await sh('buildah', ['inspect', '--type', 'image', image]);
  return (JSON.parse(r.stdout) as { OCIv1: { config: { Entrypoint?: string[]; User?: string; Env?: string[] } } }).OCIv1.config;
}

async function run(): Promise<void> {
  for (const b of BUILDERS) {
    await t.test(`built with ${b.builder}`, async (t) => {
      if (process.env.WEFT_IMAGE_REUSE !== '1') {
        const started = Date.now();
        const r = await buildImages(b.script, b.tag);
        t.equal(r.code, 0, `${b.script} built both images (${Math.round((Date.now() - started) / 1000)} s)`);
        if (r.code !== 0) {
          t.comment(r.output.slice(-4000));
          return;
        }
        for (const m of r.output.matchAll(/^build-images: (.*)$/gm)) t.comment(m[1]);
      }
      await listImages(t, b.tag);
    });
  }
}

async function listImages(t: Test, tag: string): Promise<void> {
  // The host's own CAs (what /usr/local/share/ca-certificates adds to the public ones).
  const localDir = '/usr/local/share/ca-certificates';
  const hostLocal = existsSync(localDir) ? walk(localDir).filter((f) => f.endsWith('.crt')).flatMap((f) => [...certs(readFileSync(join(localDir, f), 'utf8'))]) : [];

  await t.test('the agent image', async (t) => {
    const image = `localhost/weft-agent:${tag}`;
    const { path, container } = await mount(t, image);
    const opt = join(path, 'opt/weft');
    const files = walk(opt);
    t.ok(files.includes('agent.mjs') && files.includes('weft.mjs'), 'the agent and CLI bundles are in /opt/weft');
    const seen = agentChunks(opt, (f) => files.includes(f));
    t.ok(seen.size > 3, `agent.mjs imports ${seen.size - 1} chunks`);
    t.same([...seen].filter((f) => !files.includes(f)), [], 'every one of them is in the image');
    const addon = readFileSync(join(opt, 'build/weft_native.node'));
    t.ok(addon.subarray(0, 4).toString('latin1') === '\x7fELF' && addon.readUInt16LE(16) === 3, 'build/weft_native.node is an ELF shared object');
    const programs = readdirSync(join(ROOT, 'ebpf')).filter((f) => f.endsWith('.c')).map((f) => `ebpf/${f.replace(/\.c$/, '.o')}`);
    for (const o of programs) {
      t.ok(files.includes(o), `${o} is in the image`);
      const head = files.includes(o) ? readFileSync(join(opt, o)).subarray(0, 20) : Buffer.alloc(20);
      t.equal(head.readUInt16LE(18), 247, `${o} is a BPF object (e_machine 247)`);
    }
    t.notOk(files.some((f) => f.includes('node_modules') || f.endsWith('.map') || f.endsWith('.ts')), 'no node_modules, source maps or sources in /opt/weft');
    t.notOk(existsSync(join(path, 'src')), 'nothing of the build stage (/src)');
    for (const tool of ['usr/sbin/iptables', 'usr/sbin/ip', 'usr/sbin/tc', 'usr/sbin/bpftool']) t.ok(existsSync(join(path, tool)), `/${tool}`);
    t.ok((statSync(join(path, 'usr/local/bin/weft')).mode & 0o111) !== 0, '/usr/local/bin/weft is executable');
    const cfg = await config(image);
    t.same(cfg.Entrypoint, ['node', '/opt/weft/agent.mjs'], 'entrypoint');
    t.equal(cfg.User, '0:0', 'user');
    t.notOk((cfg.Env ?? []).some((e) => /NODE_EXTRA_CA_CERTS|host-ca/.test(e)), 'no CA setting in the image environment');
    const bundle = certs(readFileSync(join(path, 'etc/ssl/certs/ca-certificates.crt'), 'utf8'));
    t.ok(bundle.size > 50, `the image trusts its own CA store (${bundle.size} certificates)`);
    t.same(hostLocal.filter((c) => bundle.has(c)), [], `none of the host's ${hostLocal.length} local CA certificate(s) is in the image (only mounted during the build)`);
    t.same(existsSync(join(path, 'run/secrets')) ? readdirSync(join(path, 'run/secrets')) : [], [], 'and no secret file was left behind');
    // The bundles load inside the image.
    const help = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'node', '/opt/weft/agent.mjs', '--help']);
    t.match(help.stdout, /weft agent/, 'node /opt/weft/agent.mjs --help runs in the image');
    const cli = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'weft', '--help']);
    t.match(cli.stdout, /weft/, 'weft --help runs in the image');
    const bpftool = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'bpftool', 'version']);
    t.match(bpftool.stdout, /bpftool v/, 'bpftool runs in the image');
  });

  await t.test('the control image', async (t) => {
    const image = `localhost/weft-control:${tag}`;
    const { path, container } = await mount(t, image);
    const files = walk(join(path, 'opt/weft'));
    t.same(files, ['control.mjs'], '/opt/weft holds control.mjs only');
    const cfg = await config(image);
    t.same(cfg.Entrypoint, ['node', '/opt/weft/control.mjs'], 'entrypoint');
    t.equal(cfg.User, '65532:65532', 'user');
    const bundle = certs(readFileSync(join(path, 'etc/ssl/certs/ca-certificates.crt'), 'utf8'));
    t.same(hostLocal.filter((c) => bundle.has(c)), [], 'none of the host\'s local CA certificates');
    const help = await sh('buildah', ['run', '--isolation', 'chroot', container, '--', 'node', '/opt/weft/control.mjs', '--help']);
    t.equal(help.code, 0, `node /opt/weft/control.mjs --help runs in the image (${help.stdout.split('\n')[0]})`);
  });
}
