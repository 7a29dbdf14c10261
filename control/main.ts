// `node dist/control.mjs`: parse config from the environment, start, log the effective config,
// and shut down cleanly on SIGTERM/SIGINT.
import { processEnv, describeSettings } from '../common/config.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { createLogger, setLogLevel } from '../common/log.ts';
import { isWeftError } from '../common/errors.ts';
import { controlSettings, loadControlConfig } from './config.ts';
import { startControl } from './app.ts';

const log = createLogger('control');

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`weft control — the mesh's CA and config stream\n\nEnvironment:\n${describeSettings(controlSettings)}\n`);
    return;
  }
  const cfg = loadControlConfig(processEnv);
  setLogLevel(cfg.logLevel);
  log.info('starting', { config: cfg });
  const app = await startControl(cfg, log);
  stopOnSignals(log, () => app.close());
  log.info('ready');
}

main().catch((err: unknown) => {
  if (isWeftError(err)) log.error(err.message, { code: err.code });
  else log.error('control failed to start', { err });
  process.exit(1);
});
