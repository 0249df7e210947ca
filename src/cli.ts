/**
 * `macdemux` command-line entry: dispatches `macdemux <command> ...` to src/cli/<command>.ts
 * (dist/src/cli/<command>.js when compiled). Each command module exports `run(argv): Promise<number>`
 * (the exit code). Only the chosen command's module is loaded, so `--help` and `--version` start fast.
 */
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLeadingOptions, type GlobalOptions } from './cli/options.ts';
import { UsageError } from './service/args.ts';
import { MODULE_EXT, packageVersion } from './package-info.ts';
import { configureLogging } from './log.ts';

/** Commands and a one-line summary each; the module is src/cli/<name>.ts. */
export const COMMANDS: Record<string, string> = {
  demo: 'build a lab, run the userspace switch with traffic next to the kernel bridge, print a table',
  link: 'create/delete/list macvlan, macvtap, veth and bridge links (iproute2 words)',
  addr: 'add/delete/list IPv4 and IPv6 addresses (iproute2 words)',
  route: 'add/delete/list routes (iproute2 words)',
  switch: 'run a userspace switch in the foreground',
  bench: 'benchmark macdemux side by side with the Linux bridge, kernel macvlan and OVS',
  up: 'apply a network config (idempotent)',
  down: 'tear down what a config created',
  status: 'show the daemon\'s networks, ports and counters',
  network: 'ls/inspect/create/rm/connect/disconnect the daemon\'s networks (Docker words)',
  top: 'live per-port rates from the daemon',
  'docker-plugin': 'run the Docker network driver `macdemux` (libnetwork remote API) in the foreground',
  lab: 'lab maintenance (e.g. `lab cleanup` removes stale lab namespaces)',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([c, s]) => `  ${c.padEnd(width)}  ${s}`);
  return `usage: macdemux [OPTIONS] <command> [args]
OPTIONS (before the command, as in ip): -j[son] -p[retty] -s[tats] -d[etails] -n[etns] NETNS -4 -6
  -h[elp] -V[ersion]; --log-level LEVEL, --log-json, --log-file PATH for structured logs
  (default: warnings and errors only, on stderr; MACDEMUX_LOG_LEVEL sets the level too)

commands:
${lines.join('\n')}
`;
}

/** Commands that run a service in the foreground: they log like the daemon. */
const FOREGROUND_SERVICES = new Set(['docker-plugin']);

/** Commands that take the iproute2 options as parsed; the others get them back as --flags. */
const IP_COMMANDS = new Set(['link', 'addr', 'route']);

/** Global options for a command that parses its own `--flag` options. */
function asFlags(g: GlobalOptions): string[] {
  return [...(g.netns !== undefined ? ['--netns', g.netns] : []), ...(g.json ? ['--json'] : [])];
}


/** Run the CLI with argv (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const { opts: g, rest } = parseLeadingOptions(argv, usage());
    // The CLI prints its own human lines; structured logs only from warn up unless asked. A
    // service run in the foreground (docker-plugin) logs its lifecycle at info, like macdemuxd.
    configureLogging({
      defaultLevel: rest[0] !== undefined && FOREGROUND_SERVICES.has(rest[0]) ? 'info' : 'warn',
      ...(g.logLevel ? { level: g.logLevel } : {}),
      ...(g.logJson ? { json: true } : {}),
      ...(g.logFile ? { file: g.logFile } : {}),
    });
    if (g.version) {
      process.stdout.write(`macdemux ${packageVersion()}\n`);
      return 0;
    }
    const [command, ...cmdArgs] = rest;
    if (!command || g.help || command === 'help') {
      process.stdout.write(usage());
      return command || g.help ? 0 : 2;
    }
    if (!(command in COMMANDS)) throw new UsageError(`unknown command "${command}"`, `\n${usage()}`);
    const file = join(dirname(fileURLToPath(import.meta.url)), 'cli', `${command}${MODULE_EXT}`);
    if (!existsSync(file)) throw new UsageError(`command "${command}" is not part of this build`, '');
    const mod = (await import(pathToFileURL(file).href)) as { run(argv: string[], g?: GlobalOptions): Promise<number> };
    try {
      return IP_COMMANDS.has(command) ? await mod.run(cmdArgs, g) : await mod.run([...asFlags(g), ...cmdArgs]);
    } catch (err) {
      return report(err, command);
    }
  } catch (err) {
    return report(err);
  }
}

/** Print an error: usage errors exit 2, everything else 1. */
function report(err: unknown, command?: string): number {
  const e = err as Error & { exitCode?: number };
  process.stderr.write(`macdemux${command ? ` ${command}` : ''}: ${e.message}\n`);
  if (process.env.MACDEMUX_DEBUG) process.stderr.write(`${e.stack}\n`);
  return e instanceof UsageError || e.exitCode === 2 ? 2 : 1;
}
