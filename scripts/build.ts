// esbuild bundles for the processes users run: agent, control and the `weft` CLI. One file each,
// Node 24 target, ws/yaml/x509 bundled in so an image needs only `node` and the bundle. The
// dashboard's browser bundle (control/dashboard/ui) is built first and embedded in control's.
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

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

// The agent's memory: every isolate (the main thread and each proxy worker) keeps the source text
// of what it loaded, so the agent is split into chunks loaded on demand (agent/main.ts imports the
// main-thread or the worker half; the OpenTelemetry SDK loads only with export configured), and
// comments and indentation are dropped (a third of the text; names stay readable, and the source
// map has the rest). The chunks sit next to dist/agent.mjs, where agent/native and the ebpf
// redirector look for their files relative to the code, with content-hashed names, so a copy of
// agent.mjs (bench/ab.ts's baseline) keeps loading its own chunks after a rebuild.
const agentChunked = {
  splitting: true,
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'agent-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  minifyWhitespace: true,
} as const;

// node:http through process.getBuiltinModule, not an ESM import. Node's ESM wrapper of a built-in
// reads every export once, and node:http's include lazy getters (WebSocket, MessageEvent,
// CloseEvent) that load the whole fetch/WebSocket implementation, and node:http2 with it: measured
// on Node 24, +13.5 MiB RSS and +2.3 MB of heap in a process that only wanted http.METHODS. The
// bundle's `import http from 'node:http'` resolves to this module instead; a named import of
// something not listed here fails the build (add it here).
const nodeHttpWithoutGetters: Plugin = {
  name: 'node-http-without-getters',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, (args) => (args.kind === 'import-statement' ? { path: 'node:http', namespace: 'weft-node-http' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'weft-node-http' }, () => ({
      contents: "const http = process.getBuiltinModule('node:http');\nexport default http;\nexport const { Agent, ClientRequest, IncomingMessage, METHODS, OutgoingMessage, STATUS_CODES, Server, ServerResponse, createServer, get, request, validateHeaderName, validateHeaderValue } = http;\n",
      loader: 'js',
    }));
  },
};

const present = Object.entries(entries).filter(([, file]) => existsSync(file));
const results = await Promise.all(
  present.map(([name, file]) =>
    build({
      entryPoints: { [name]: file },
      ...(name === 'agent' ? agentChunked : { outfile: `dist/${name}.mjs` }),
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'esm',
      sourcemap: true,
      // ws has optional native helpers that are absent on purpose.
      external: ['bufferutil', 'utf-8-validate'],
      plugins: [nodeHttpWithoutGetters],
      banner: { js: "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);" },
      logLevel: 'warning',
      metafile: name === 'agent',
      ...(name === 'control' ? { define: { __WEFT_DASHBOARD_BUNDLE__: JSON.stringify(dashboardBundle) } } : {}),
    }),
  ),
);
// One non-ASCII character (in a kept comment, say) makes V8 hold the whole file as two-byte text:
// twice the memory in every isolate. esbuild escapes strings; this catches the rest.
for (const r of results) {
  for (const out of Object.keys(r.metafile?.outputs ?? {})) {
    if (!out.endsWith('.mjs')) continue;
    const bytes = readFileSync(out);
    const at = bytes.findIndex((b) => b > 0x7f);
    if (at >= 0) throw new Error(`${out} has a non-ASCII byte at offset ${at}: V8 would keep it as two-byte text in every isolate`);
  }
}
// The IP_TRANSPARENT addon, next to the agent bundle where agent/native looks for it.
execFileSync('bash', ['scripts/build-native.sh'], { stdio: 'inherit' });
mkdirSync('dist/build', { recursive: true });
copyFileSync('agent/native/build/weft_native.node', 'dist/build/weft_native.node');
// The chained CNI plugin pod scope installs on the node (agent/redirect/cni-install.ts).
copyFileSync('agent/native/build/weft-cni', 'dist/build/weft-cni');
// The eBPF programs, where the ebpf redirector looks next to the agent bundle (dist/ebpf/).
execFileSync('bash', ['scripts/build-ebpf.sh'], { stdio: 'inherit' });
mkdirSync('dist/ebpf', { recursive: true });
// Every program build-ebpf.sh made: node scope (tc-pod-ingress, tc-inbound-ingress) and pod scope (tc-podns-*).
for (const o of readdirSync('ebpf/build').filter((f) => f.endsWith('.o'))) copyFileSync(`ebpf/build/${o}`, `dist/ebpf/${o}`);
console.log(`built ${present.map(([n]) => `dist/${n}.mjs`).join(', ') || 'nothing yet'}`);
