// There is no container engine on most test machines, so this file checks the images statically:
// the Dockerfiles are parsed and checked for what a build would trip on or what the chart relies on
// (stages and base images as build arguments, COPY sources that exist and survive the one
// .dockerignore at the context root, COPY --from naming an earlier stage, a USER and an exec-form
// ENTRYPOINT, the eBPF toolchain in the build stage, the host's CA only ever mounted), and the
// agent image's /opt/weft is listed by expanding its COPY --from=build lines against the dist/ this
// checkout built — every chunk agent.mjs imports, the addon, and one BPF object per ebpf/*.c.
// tests/images/image-build.test.ts builds the images for real with buildah and lists what they hold.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './chart.ts';
import { agentChunks } from './agent-chunks.ts';

interface Instruction { op: string; args: string; line: number }

/** Dockerfile instructions: comments dropped, backslash continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf !== '' && line.startsWith('#')) return;
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1).trimEnd() + ' ';
      return;
    }
    buf += line;
    const m = /^(\S+)\s*(.*)$/.exec(buf);
    if (m !== null) out.push({ op: m[1].toUpperCase(), args: m[2], line: start });
    buf = '';
  });
  return out;
}

interface Stage { name: string; base: string; steps: Instruction[] }

function stages(ins: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      out.push({ base: m?.[1] ?? '', name: m?.[2] ?? String(out.length), steps: [] });
    } else if (out.length > 0) out[out.length - 1].steps.push(i);
  }
  return out;
}

/** The patterns of a .dockerignore: does the build context keep `path`? (last match wins) */
function keptByIgnore(patterns: string[], path: string): boolean {
  let kept = true;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const pat = negate ? p.slice(1) : p;
    const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*').replace(/\/$/, '(/.*)?')}(/.*)?$`);
    if (re.test(path)) kept = negate;
  }
  return kept;
}

const IGNORE = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

/** Expands a COPY source with `*` in its last part against a directory on this machine. */
function expand(dir: string, pattern: string): string[] {
  if (!pattern.includes('*')) return existsSync(join(dir, pattern)) ? [pattern] : [];
  const slash = pattern.lastIndexOf('/');
  const parent = pattern.slice(0, slash + 1);
  const re = new RegExp(`^${pattern.slice(slash + 1).replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return existsSync(join(dir, parent)) ? readdirSync(join(dir, parent)).filter((f) => re.test(f)).map((f) => parent + f) : [];
}

/** Every file under a directory, relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/**
 * The files a runtime stage puts under its WORKDIR from the build stage, by expanding each
 * `COPY --from=build /src/<path> <dest>` against this checkout (the build stage's /src).
 */
function imageListing(runtime: Instruction[]): string[] {
  const out: string[] = [];
  for (const c of runtime.filter((s) => s.op === 'COPY' && s.args.includes('--from=build'))) {
    const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--'));
    const dest = words[words.length - 1].replace(/^\.\/?/, '');
    for (const src of words.slice(0, -1)) {
      const rel = src.replace(/^\/src\//, '');
      for (const hit of expand(ROOT, rel.replace(/\/$/, ''))) {
        const full = join(ROOT, hit);
        if (statSync(full).isDirectory()) out.push(...walk(full).map((f) => `${dest}${f}`));
        else out.push(dest === '' || dest.endsWith('/') ? `${dest}${hit.split('/').pop()}` : dest);
      }
    }
  }
  return out.sort();
}

t.test('one ignore file, at the context root, for every builder', async (t) => {
  const perDockerfile = readdirSync(join(ROOT, 'docker')).filter((f) => f.endsWith('.dockerignore') || f.endsWith('.containerignore'));
  t.same(perDockerfile, [], 'no per-Dockerfile ignore files (buildah does not read them)');
  t.notOk(existsSync(join(ROOT, '.containerignore')), 'no .containerignore beside it (buildah would prefer it)');
  for (const p of ['node_modules/x/index.js', 'dist/agent.mjs', 'ebpf/build/tc-pod-ingress.o', 'agent/native/build/weft_native.node', '.git/HEAD', 'tests/e2e/x.test.ts']) {
    t.notOk(keptByIgnore(IGNORE, p), `${p} stays out of the build context`);
  }
  for (const p of ['ebpf/tc-pod-ingress.c', 'ebpf/include/weft-redirect.h', 'scripts/build-ebpf.sh', 'agent/main.ts', 'package-lock.json']) {
    t.ok(keptByIgnore(IGNORE, p), `${p} goes in`);
  }
});

const parsed = new Map<string, Stage[]>();
for (const [file, expect] of [
  ['docker/Dockerfile.agent', { entry: '/opt/weft/agent.mjs', user: '0:0', packages: ['iptables', 'bpftool', 'iproute2'] }],
  ['docker/Dockerfile.control', { entry: '/opt/weft/control.mjs', user: '65532:65532', packages: [] }],
] as const) {
  t.test(file, async (t) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const ins = parseDockerfile(text);
    const st = stages(ins);
    parsed.set(file, st);
    t.same(st.map((s) => s.name), ['build', 'runtime'], 'two stages: build and runtime');
    // Base images are build arguments with the official images as defaults.
    const args = new Map(ins.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
    const base = (b: string): string => b.replace(/^\$\{(\w+)\}$/, (_m, n: string) => args.get(n) ?? `(no default for ${n})`);
    t.match(st[0].base, /^\$\{\w+\}$/, 'the build stage\'s base is a build argument');
    t.equal(base(st[0].base), 'node:24-bookworm', 'defaulting to node:24-bookworm');
    t.equal(base(st[1].base), 'node:24-slim', 'runtime defaults to node:24-slim');
    const buildRuns = st[0].steps.filter((s) => s.op === 'RUN').map((s) => s.args);
    const install = buildRuns.find((r) => r.includes('apt-get')) ?? '';
    for (const p of ['clang', 'libbpf-dev', 'gcc']) t.match(install, new RegExp(`install [^;&]*\\b${p}\\b`), `the build stage installs ${p} (scripts/build-ebpf.sh, build-native.sh)`);
    const npmCi = buildRuns.findIndex((r) => /\bnpm ci\b/.test(r));
    const build = buildRuns.findIndex((r) => r === 'node scripts/build.ts');
    t.ok(npmCi >= 0 && build > npmCi, 'build runs npm ci, then node scripts/build.ts');
    const copiedDirs = st[0].steps.filter((s) => s.op === 'COPY').map((s) => s.args.split(/\s+/)[0]);
    // What scripts/build.ts compiles: its entries' folders, and every ebpf/*.c (build-ebpf.sh).
    const buildTs = readFileSync(join(ROOT, 'scripts/build.ts'), 'utf8');
    const needed = new Set(['scripts', 'ebpf', ...[...buildTs.matchAll(/'((?:agent|control|common)\/[^']+\.ts)'/g)].map((m) => m[1].split('/')[0])]);
    for (const d of needed) t.ok(copiedDirs.includes(d), `the build stage copies ${d}/ (scripts/build.ts needs it)`);
    // The host's CA: mounted read-only into each RUN that fetches packages, never copied or set.
    for (const r of st.flatMap((s) => s.steps).filter((s) => s.op === 'RUN' && /apt-get|npm ci/.test(s.args))) {
      t.match(r.args, /^--mount=type=secret,id=host-ca,target=\/run\/secrets\/host-ca /, `line ${r.line}: fetching packages mounts the host's CA bundle (a secret: read-only, not a layer)`);
    }
    t.notOk(ins.some((i) => (i.op === 'COPY' || i.op === 'ADD') && /ca-certificates\.crt|\.pem\b|host-ca/.test(i.args)), 'no CA file is copied into an image');
    t.notOk(ins.some((i) => i.op === 'ENV' && /NODE_EXTRA_CA_CERTS|CaInfo/.test(i.args)), 'nor set in its environment');
    for (const s of st) {
      for (const c of s.steps.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
        const words = c.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const sources = paths.slice(0, -1);
        t.ok(sources.length > 0, `line ${c.line}: COPY has a source and a destination`);
        if (from !== undefined) {
          t.ok(st.slice(0, st.indexOf(s)).some((x) => x.name === from), `line ${c.line}: --from=${from} is an earlier stage`);
          continue;
        }
        for (const src of sources) {
          t.ok(existsSync(join(ROOT, src)), `line ${c.line}: ${src} exists in the repository`);
          const probe = existsSync(join(ROOT, src)) && statSync(join(ROOT, src)).isDirectory() ? `${src}/x.ts` : src;
          t.ok(keptByIgnore(IGNORE, probe.replace(/^\.\//, '')), `line ${c.line}: ${src} is not excluded by the .dockerignore`);
        }
      }
    }
    const runtime = st[1].steps;
    const users = runtime.filter((s) => s.op === 'USER');
    t.equal(users.length, 1, 'runtime sets USER explicitly');
    t.equal(users[0]?.args, expect.user);
    const entry = runtime.filter((s) => s.op === 'ENTRYPOINT');
    t.equal(entry.length, 1, 'one ENTRYPOINT');
    const argv = JSON.parse(entry[0]?.args ?? 'null') as unknown;
    t.same(argv, ['node', expect.entry], 'exec form (signals reach node directly, so SIGTERM drains)');
    const copied = runtime.filter((s) => s.op === 'COPY').flatMap((s) => s.args.split(/\s+/));
    const dest = (name: string): boolean => copied.some((w) => w.endsWith(`/${name}`)) && runtime.some((s) => s.op === 'WORKDIR' && s.args === '/opt/weft');
    t.ok(dest(expect.entry.split('/').pop() ?? ''), 'the entrypoint bundle is copied into /opt/weft');
    const installs = runtime.filter((s) => s.op === 'RUN').map((s) => s.args).join(' ');
    for (const p of expect.packages) t.match(installs, new RegExp(`apt-get (?:"\\$@" )?install [^;&]*\\b${p}\\b`), `runtime installs ${p}`);
    if (file.endsWith('agent')) {
      t.ok(runtime.some((s) => s.op === 'COPY' && s.args.endsWith('/usr/local/bin/weft')), 'the weft CLI is /usr/local/bin/weft');
    }
  });
}

t.test('both images share one build stage', async (t) => {
  const [a, c] = [parsed.get('docker/Dockerfile.agent'), parsed.get('docker/Dockerfile.control')];
  t.same(c?.[0].steps.map((s) => [s.op, s.args]), a?.[0].steps.map((s) => [s.op, s.args]), 'the same steps, so one cached build serves both');
});

t.test('the agent image\'s /opt/weft, listed from its COPY lines against this checkout\'s build', async (t) => {
  if (!existsSync(join(ROOT, 'dist/agent.mjs'))) throw new Error('dist/agent.mjs missing: run node scripts/build.ts first (scripts/test.sh does)');
  const st = parsed.get('docker/Dockerfile.agent') ?? stages(parseDockerfile(readFileSync(join(ROOT, 'docker/Dockerfile.agent'), 'utf8')));
  const listing = imageListing(st[1].steps);
  t.ok(listing.includes('agent.mjs') && listing.includes('weft.mjs'), 'the agent and CLI bundles');
  t.ok(listing.includes('build/weft_native.node'), 'the IP_TRANSPARENT addon at build/weft_native.node');
  t.ok(listing.includes('build/weft-cni'), 'the weft-cni plugin pod scope installs, at build/weft-cni (beside the addon)');
  // Every chunk agent.mjs loads, transitively (static and dynamic imports of ./agent-*.mjs).
  const seen = agentChunks(join(ROOT, 'dist'));
  t.ok(seen.size > 3, `agent.mjs loads ${seen.size - 1} chunks`);
  for (const f of seen) t.ok(listing.includes(f), `${f} is in the image`);
  // One BPF object per program source, each an ELF for the BPF machine (e_machine 247).
  const programs = readdirSync(join(ROOT, 'ebpf')).filter((f) => f.endsWith('.c')).map((f) => `ebpf/${f.replace(/\.c$/, '.o')}`);
  t.ok(programs.length >= 2, `${programs.length} eBPF programs in ebpf/`);
  for (const o of programs) {
    t.ok(listing.includes(o), `${o} is in the image (redirectMode: ebpf can start from it)`);
    const head = readFileSync(join(ROOT, 'dist', o)).subarray(0, 20);
    t.ok(head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && head.readUInt16LE(18) === 247, `${o} is a BPF ELF object`);
  }
  t.notOk(listing.some((f) => f.endsWith('.map') || f.includes('node_modules') || f.startsWith('dashboard/')), 'no source maps, node_modules or dashboard files');
});

t.test('the parser joins continuations and drops comments', async (t) => {
  const ins = parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inside\n  && y\n');
  t.same(ins.map((i) => [i.op, i.args]), [['FROM', 'a AS b'], ['RUN', 'x && y']]);
});
