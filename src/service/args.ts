/**
 * Shared option handling of `macdemux up|down|status|top` and `macdemuxd`: a small strict
 * `--flag value` parser, and the default locations (state directory, control socket, metrics).
 */
import { join } from 'node:path';

/** Default state directory (leases, ownership, lock, control socket). */
export const DEFAULT_STATE_DIR = process.env.MACDEMUX_STATE_DIR ?? '/var/lib/macdemux';
/** Default Prometheus listen address. */
export const DEFAULT_METRICS = '127.0.0.1:9469';

/** The control socket of a state directory. */
export function socketPathFor(stateDir: string): string {
  return join(stateDir, 'macdemuxd.sock');
}

/** Error for bad command-line usage (exit code 2). */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string, usage: string) {
    super(`${message}\n${usage}`);
    this.name = 'UsageError';
  }
}

/**
 * Parse argv against the allowed options: `values` take an argument (`--x V` or `--x=V`), `flags`
 * do not. Returns the options and the positional arguments; unknown options throw UsageError.
 */
export function parseArgs(
  argv: string[],
  spec: { values: string[]; flags: string[]; usage: string },
): { opts: Record<string, string | boolean>; positional: string[] } {
  const opts: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      opts.help = true;
      continue;
    }
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (spec.flags.includes(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`, spec.usage);
      opts[name] = true;
    } else if (spec.values.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new UsageError(`option --${name} needs a value`, spec.usage);
      opts[name] = v;
    } else {
      throw new UsageError(`unknown option ${a}`, spec.usage);
    }
  }
  return { opts, positional };
}
