// How both processes end: the first SIGTERM/SIGINT runs the graceful stop once, then the process
// exits 0 (or 1 when the stop itself failed). A second signal during the stop is ignored, so an
// impatient Ctrl-C cannot cut a drain short by accident.
import type { Logger } from './log.ts';

export function stopOnSignals(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('unclean stop', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
