/**
 * The CLI's option words, as iproute2 reads them (ip/ip.c main): options come before the object
 * (`macdemux -j -n NS link show`), one or two leading dashes, and any unambiguous prefix of the
 * long name (`-j`, `-json`, `--json`; `-s`, `-stats`, `-statistics`; `-d`, `-details`;
 * `-n NS`, `-netns NS`). For compatibility they are also accepted after the object. A word that
 * starts with '-' and is none of these is a usage error (exit 2), never a device name.
 */
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../log.ts';
import { UsageError } from '../service/args.ts';

/** Options shared by the iproute2-style commands (link, addr, route) and `network`. */
export interface GlobalOptions {
  /** -j: JSON output in `ip -j`'s key names. */
  json: boolean;
  /** -p: pretty-printed JSON. */
  pretty: boolean;
  /** -s: statistics (repeat for more, like ip). */
  stats: number;
  /** -d: details (kind-specific data, queues, promiscuity). */
  details: boolean;
  /** -n NS: run inside this network namespace. */
  netns?: string;
  /** -4 / -6 / -f inet|inet6. */
  family?: 'inet' | 'inet6';
  /** -h / --help. */
  help: boolean;
  /** -V / --version. */
  version: boolean;
  /** --log-level LEVEL: structured log level (default warn in the CLI; MACDEMUX_LOG_LEVEL). */
  logLevel?: LogLevel;
  /** --log-json: structured logs as JSON lines even on a TTY. */
  logJson?: boolean;
  /** --log-file PATH: structured logs to this file instead of stderr. */
  logFile?: string;
}

export function defaultGlobalOptions(): GlobalOptions {
  return { json: false, pretty: false, stats: 0, details: false, help: false, version: false };
}

/** Long names in ip's matching order (the first name a prefix matches wins: -s is -stats). */
const OPTION_NAMES = ['family', 'stats', 'statistics', 'details', 'help', 'Version', 'version', 'netns', 'json', 'pretty', 'log-level', 'log-json', 'log-file'] as const;
type OptionName = (typeof OPTION_NAMES)[number];

/** The option a word names, or undefined when it does not start with '-' (a plain word). */
export function optionName(word: string): OptionName | '4' | '6' | 'unknown' | undefined {
  if (!word.startsWith('-') || word === '-') return undefined;
  if (word === '-4' || word === '-6') return word.slice(1) as '4' | '6';
  const bare = word.startsWith('--') ? word.slice(2) : word.slice(1);
  if (bare.length === 0) return 'unknown';
  return OPTION_NAMES.find((n) => n.startsWith(bare)) ?? 'unknown';
}

/**
 * Apply the option at argv[i] to `o`; returns how many words it used (1 or 2).
 * Throws UsageError for an unknown option or a missing value.
 */
function applyOption(argv: string[], i: number, o: GlobalOptions, usage: string): number {
  const word = argv[i] as string;
  const name = optionName(word);
  const value = (): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`option "${word}" needs a value`, usage);
    return v;
  };
  switch (name) {
    case '4': o.family = 'inet'; return 1;
    case '6': o.family = 'inet6'; return 1;
    case 'family': {
      const f = value();
      if (f === 'inet' || f === 'inet6') o.family = f;
      else throw new UsageError(`option "${word}" expects inet or inet6, not "${f}"`, usage);
      return 2;
    }
    case 'stats': case 'statistics': o.stats++; return 1;
    case 'details': o.details = true; return 1;
    case 'help': o.help = true; return 1;
    case 'Version': case 'version': o.version = true; return 1;
    case 'netns': o.netns = value(); return 2;
    case 'json': o.json = true; return 1;
    case 'pretty': o.pretty = true; return 1;
    case 'log-level': {
      const l = value();
      if (!isLogLevel(l)) throw new UsageError(`option "${word}" expects one of ${LOG_LEVELS.join(', ')}, not "${l}"`, usage);
      o.logLevel = l;
      return 2;
    }
    case 'log-json': o.logJson = true; return 1;
    case 'log-file': o.logFile = value(); return 2;
    default: throw new UsageError(`unknown option "${word}"`, usage);
  }
}

/**
 * Leading options of argv (before the first plain word), ip-style.
 * Returns the options and the words from the first plain word on.
 */
export function parseLeadingOptions(argv: string[], usage: string, into: GlobalOptions = defaultGlobalOptions()): { opts: GlobalOptions; rest: string[] } {
  let i = 0;
  while (i < argv.length && optionName(argv[i] as string) !== undefined) i += applyOption(argv, i, into, usage);
  return { opts: into, rest: argv.slice(i) };
}

/**
 * Options anywhere in argv (the older `link show NAME --json` form); the other words keep their
 * order. Words after `--` are taken as they are.
 */
export function extractOptions(argv: string[], usage: string, into: GlobalOptions = defaultGlobalOptions()): { opts: GlobalOptions; rest: string[] } {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; ) {
    const w = argv[i] as string;
    if (w === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (optionName(w) === undefined) {
      rest.push(w);
      i++;
    } else {
      i += applyOption(argv, i, into, usage);
    }
  }
  return { opts: into, rest };
}

/** JSON text for stdout: one line, or indented with -p (like ip -j -p). */
export function jsonText(v: unknown, o: Pick<GlobalOptions, 'pretty'>): string {
  return `${o.pretty ? JSON.stringify(v, null, 4) : JSON.stringify(v)}\n`;
}
