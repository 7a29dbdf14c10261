// esbuild bundles for the processes users run: agent, control and the `weft` CLI. One file each,
// Node 24 target, ws/yaml/x509 bundled in so an image needs only `node` and the bundle. The
// dashboard's browser bundle (control/dashboard/ui) is built first and embedded in control's.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';

const entries: Record<string, string> = {
  agent: 'agent/main.ts',
  control: 'control/main.ts',
  weft: 'agent/cli/main.ts',
};

// The dashboard: one script and one stylesheet for browsers, no external resources, embedded in
// dist/control.mjs (served from memory) and also written to dist/dashboard/ for runs from source.
const ui = await build({
  entryPoints: { app: 'control/dashboard/ui/main.ts', style: 'control/dashboard/ui/style.css' },
  outdir: 'dist/dashboard',
  bundle: true,
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  format: 'esm',
  minify: true,
  write: false,
  logLevel: 'warning',
});
const uiFile = (ext: string): string => ui.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
const dashboardBundle = JSON.stringify({ js: uiFile('app.js'), css: uiFile('style.css') });
mkdirSync('dist/dashboard', { recursive: true });
for (const f of ui.outputFiles) writeFileSync(f.path, f.contents);

const present = Object.entries(entries).filter(([, file]) => existsSync(file));
await Promise.all(
  present.map(([name, file]) =>
    build({
      entryPoints: [file],
      outfile: `dist/${name}.mjs`,
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'esm',
      sourcemap: true,
      // ws has optional native helpers that are absent on purpose.
      external: ['bufferutil', 'utf-8-validate'],
      banner: { js: "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);" },
      logLevel: 'warning',
      ...(name === 'control' ? { define: { __WEFT_DASHBOARD_BUNDLE__: JSON.stringify(dashboardBundle) } } : {}),
    }),
  ),
);
// The IP_TRANSPARENT addon, next to the agent bundle where agent/native looks for it.
execFileSync('bash', ['scripts/build-native.sh'], { stdio: 'inherit' });
mkdirSync('dist/build', { recursive: true });
copyFileSync('agent/native/build/weft_native.node', 'dist/build/weft_native.node');
// The eBPF programs, where the ebpf redirector looks next to the agent bundle (dist/ebpf/).
execFileSync('bash', ['scripts/build-ebpf.sh'], { stdio: 'inherit' });
mkdirSync('dist/ebpf', { recursive: true });
for (const o of ['tc-pod-ingress.o', 'tc-inbound-ingress.o']) copyFileSync(`ebpf/build/${o}`, `dist/ebpf/${o}`);
console.log(`built ${present.map(([n]) => `dist/${n}.mjs`).join(', ') || 'nothing yet'}`);
