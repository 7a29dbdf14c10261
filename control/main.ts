// `node dist/control.mjs`: parse config from the environment, start, log the effective config,
// and shut down cleanly on SIGTERM/SIGINT.
import { processEnv, describeSettings } from '../common/config.ts';
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
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('unclean stop', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info('ready');
}

main().catch((err: unknown) => {
  if (isWeftError(err)) log.error(err.message, { code: err.code });
  else log.error('control failed to start', { err });
  process.exit(1);
});
