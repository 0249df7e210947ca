/**
 * `macdemuxd --config FILE [--state-dir DIR] [--socket PATH] [--metrics ADDR|off]
 *  [--teardown-on-exit] [--workers N]`: run the switching service until SIGTERM/SIGINT;
 * SIGHUP reloads the config and applies the difference.
 */
import { resolve } from 'node:path';
import { configureLogging, isLogLevel, log, LOG_LEVELS } from '../log.ts';
import { DEFAULT_METRICS, DEFAULT_STATE_DIR, parseArgs, UsageError } from './args.ts';
import { Daemon } from './daemon.ts';

const USAGE =
  'usage: macdemuxd --config FILE [--state-dir DIR] [--socket PATH] [--metrics HOST:PORT|off] [--teardown-on-exit] [--workers N] [--handoff-socket PATH]\n' +
  '                 [--log-level trace|debug|info|warn|error] [--log-json] [--log-file PATH]\n' +
  `  defaults: --state-dir ${DEFAULT_STATE_DIR}, --socket <state-dir>/macdemuxd.sock, --metrics ${DEFAULT_METRICS}`;

/** Entry point used by bin/macdemuxd.js; resolves to the exit code once the daemon has stopped. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, { values: ['config', 'state-dir', 'socket', 'metrics', 'workers', 'step-delay-ms', 'handoff-socket', 'log-level', 'log-file'], flags: ['teardown-on-exit', 'log-json'], usage: USAGE });
  } catch (err) {
    process.stderr.write(`macdemuxd: ${(err as Error).message}\n`);
    return 2;
  }
  const { opts, positional } = parsed;
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!opts.config || positional.length) {
    process.stderr.write(`macdemuxd: ${positional.length ? `unexpected argument ${positional[0]}` : '--config is required'}\n${USAGE}\n`);
    return 2;
  }
  const workers = opts.workers !== undefined ? Number(opts.workers) : undefined;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
    process.stderr.write(`macdemuxd: --workers expects an integer 1..64\n`);
    return 2;
  }
  if (opts['log-level'] !== undefined && !isLogLevel(opts['log-level'])) {
    process.stderr.write(`macdemuxd: --log-level expects one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  configureLogging({
    ...(isLogLevel(opts['log-level']) ? { level: opts['log-level'] } : {}),
    ...(opts['log-json'] ? { json: true } : {}),
    ...(opts['log-file'] ? { file: resolve(String(opts['log-file'])) } : {}),
  });
  const stepDelayMs = opts['step-delay-ms'] !== undefined ? Number(opts['step-delay-ms']) : undefined;
  const daemon = new Daemon({
    configPath: resolve(String(opts.config)),
    stateDir: resolve(String(opts['state-dir'] ?? DEFAULT_STATE_DIR)),
    ...(opts.socket ? { socketPath: resolve(String(opts.socket)) } : {}),
    metrics: opts.metrics === 'off' ? false : String(opts.metrics ?? DEFAULT_METRICS),
    teardownOnExit: !!opts['teardown-on-exit'],
    ...(opts['handoff-socket'] ? { handoffSocket: String(opts['handoff-socket']) } : {}),
    ...(workers ? { workers } : {}),
    ...(stepDelayMs ? { stepDelayMs } : {}),
  });
  const logger = log('daemon');
  let stopped!: (code: number) => void;
  const done = new Promise<number>((r) => (stopped = r));
  const onStop = (sig: string) => {
    logger.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
    daemon.stop().then(
      () => stopped(0),
      (err: Error) => {
        logger.error({ event: 'stop.failed', err: err.message }, err.message);
        stopped(1);
      },
    );
  };
  const onHup = () => {
    logger.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP: reloading');
    void daemon.reload();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    await daemon.start();
  } catch (err) {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    const e = err as Error & { exitCode?: number };
    logger.error({ event: 'daemon.failed', err: e.message }, e.message);
    process.stderr.write(`macdemuxd: ${e.message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
  const code = await done;
  process.off('SIGTERM', onStop);
  process.off('SIGINT', onStop);
  process.off('SIGHUP', onHup);
  return code;
}
