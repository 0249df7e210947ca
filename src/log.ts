/**
 * The process logger: structured lifecycle events (docs/logging.md lists them). The daemon logs
 * at `info` to stderr (human-readable on a TTY, one JSON object per line otherwise, or always JSON
 * with --log-json) or to a file (--log-file); the `macdemux` CLI prints human lines of its own and
 * logs only warnings and errors unless asked (--log-level, MACDEMUX_LOG_LEVEL). The data plane
 * counts, it never logs per packet.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino and pino-pretty (both CommonJS) load on the first log line, not at start-up: a CLI call
// that logs nothing (most of them) then starts without them (~120 ms of module loading).
const require = createRequire(import.meta.url);
const loadPino = (): typeof import('pino') => require('pino') as typeof import('pino');
const loadPretty = (): typeof PinoPretty => require('pino-pretty') as typeof PinoPretty;

/** pino's levels, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the process logs; see {@link configureLogging}. */
export interface LogSettings {
  /** Level (default: MACDEMUX_LOG_LEVEL, else `defaultLevel`). */
  level?: LogLevel;
  /** Level when neither `level` nor MACDEMUX_LOG_LEVEL is set (daemon `info`, CLI `warn`). */
  defaultLevel?: LogLevel;
  /** One JSON object per line even on a TTY. */
  json?: boolean;
  /** Append JSON lines to this file instead of stderr. */
  file?: string;
}

let settings: LogSettings = {};
let root: Logger | undefined;

/** Whether `v` is a pino level name. */
export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

/** Set how the process logs (before the first log line; later loggers follow it). */
export function configureLogging(s: LogSettings): void {
  settings = { ...settings, ...s };
  root = undefined;
}

/** The level in effect. */
export function logLevel(): LogLevel {
  const env = process.env.MACDEMUX_LOG_LEVEL;
  return settings.level ?? (isLogLevel(env) ? env : undefined) ?? settings.defaultLevel ?? 'info';
}

/** The shared root logger. */
export function logger(): Logger {
  if (root) return root;
  const level = logLevel();
  const { pino, destination } = loadPino();
  if (settings.file) root = pino({ level }, destination({ dest: settings.file, sync: true, append: true, mkdir: true }));
  else if (process.stderr.isTTY && !settings.json)
    root = pino({ level }, loadPretty()({ sync: true, destination: 2, colorize: true, ignore: 'pid,hostname' }));
  else root = pino({ level }, destination({ dest: 2, sync: true }));
  return root;
}

/** A child logger for one component, e.g. `log('switch')`. */
export function log(component: string): Logger {
  return logger().child({ component });
}
