// There is no container engine on the test machines, so the images are not built here. Instead
// the Dockerfiles are parsed and checked for what a build would trip on or what the chart relies
// on: stages and base images, COPY sources that exist in the repository (and survive the
// .dockerignore), COPY --from naming an earlier stage, a USER and an exec-form ENTRYPOINT.
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './chart.ts';

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

for (const [file, expect] of [
  ['docker/Dockerfile.agent', { entry: '/opt/weft/agent.mjs', user: '0:0', packages: ['iptables', 'bpftool', 'iproute2'] }],
  ['docker/Dockerfile.control', { entry: '/opt/weft/control.mjs', user: '65532:65532', packages: [] }],
] as const) {
  t.test(file, async (t) => {
    const ins = parseDockerfile(readFileSync(join(ROOT, file), 'utf8'));
    const ignore = readFileSync(join(ROOT, `${file}.dockerignore`), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const st = stages(ins);
    t.same(st.map((s) => s.name), ['build', 'runtime'], 'two stages: build and runtime');
    t.match(st[0].base, /^node:24(-bookworm)?$/, 'build stage on node:24');
    t.equal(st[1].base, 'node:24-slim', 'runtime on node:24-slim');
    const buildRuns = st[0].steps.filter((s) => s.op === 'RUN').map((s) => s.args);
    t.ok(buildRuns.some((r) => r.startsWith('npm ci')), 'build runs npm ci');
    t.ok(buildRuns.some((r) => r === 'node scripts/build.ts'), 'and node scripts/build.ts');
    t.ok(buildRuns.findIndex((r) => r.startsWith('npm ci')) < buildRuns.findIndex((r) => r === 'node scripts/build.ts'), 'in that order');
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
          t.ok(keptByIgnore(ignore, probe.replace(/^\.\//, '')), `line ${c.line}: ${src} is not excluded by the .dockerignore`);
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
    for (const p of expect.packages) t.match(installs, new RegExp(`apt-get install [^&]*\\b${p}\\b`), `runtime installs ${p}`);
    if (file.endsWith('agent')) {
      t.ok(runtime.some((s) => s.op === 'COPY' && s.args.endsWith('/usr/local/bin/weft')), 'the weft CLI is /usr/local/bin/weft');
      t.ok(copied.includes('/src/dist/weft.mjs'), 'from the CLI bundle dist/weft.mjs');
      t.ok(copied.some((w) => w.endsWith('build/weft_native.node')), 'with the IP_TRANSPARENT addon where agent/native looks for it');
    }
  });
}

t.test('the parser joins continuations and drops comments', async (t) => {
  const ins = parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inside\n  && y\n');
  t.same(ins.map((i) => [i.op, i.args]), [['FROM', 'a AS b'], ['RUN', 'x && y']]);
});
