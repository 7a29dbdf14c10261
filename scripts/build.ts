// esbuild bundles for the processes users run: agent, control and the `weft` CLI. One file each,
// Node 24 target, ws/yaml/x509 bundled in so an image needs only `node` and the bundle.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const entries: Record<string, string> = {
  agent: 'agent/main.ts',
  control: 'control/main.ts',
  weft: 'agent/cli/main.ts',
};

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
