/**
 * The process logger: human-readable on a TTY, one JSON object per line otherwise.
 * Lifecycle events only; the data plane counts, it never logs per packet.
 */
import { pino, destination, type Logger } from 'pino';
import pretty from 'pino-pretty';

let root: Logger | undefined;

/** The shared root logger (level from MACDEMUX_LOG_LEVEL, default `info`). */
export function logger(): Logger {
  if (root) return root;
  const level = process.env.MACDEMUX_LOG_LEVEL ?? 'info';
  root = process.stderr.isTTY
    ? pino({ level }, pretty({ sync: true, destination: 2, colorize: true, ignore: 'pid,hostname' }))
    : pino({ level }, destination({ dest: 2, sync: true }));
  return root;
}

/** A child logger for one component, e.g. `log('switch')`. */
export function log(component: string): Logger {
  return logger().child({ component });
}
