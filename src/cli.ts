/**
 * `macdemux` command-line entry: dispatches `macdemux <command> ...` to src/cli/<command>.ts
 * (dist/src/cli/<command>.js when compiled). Each command module exports `run(argv): Promise<number>`
 * (the exit code). Only the chosen command's module is loaded, so `--help` and `--version` start fast.
 */
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULE_EXT, packageVersion } from './package-info.ts';

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
  top: 'live per-port rates from the daemon',
  'docker-plugin': 'run the Docker network driver `macdemux` (libnetwork remote API) in the foreground',
  lab: 'lab maintenance (e.g. `lab cleanup` removes stale lab namespaces)',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([c, s]) => `  ${c.padEnd(width)}  ${s}`);
  return `usage: macdemux [-n NETNS] <command> [args]\n       macdemux --version\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Run the CLI with argv (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // Global `-n NS` / `--netns NS` before the command (like `ip -n NS link ...`) is handed to
  // the command as its first two arguments.
  let global: string[] = [];
  if ((argv[0] === '-n' || argv[0] === '--netns') && argv.length >= 2) {
    global = argv.slice(0, 2);
    argv = argv.slice(2);
  }
  if (argv[0] === '-V' || argv[0] === '--version') {
    process.stdout.write(`macdemux ${packageVersion()}\n`);
    return 0;
  }
  const [command, ...cmdArgs] = argv;
  const rest = [...global, ...cmdArgs];
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage());
    return command ? 0 : 2;
  }
  if (!(command in COMMANDS)) {
    process.stderr.write(`macdemux: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  const file = join(dirname(fileURLToPath(import.meta.url)), 'cli', `${command}${MODULE_EXT}`);
  if (!existsSync(file)) {
    process.stderr.write(`macdemux: command "${command}" is not part of this build\n`);
    return 2;
  }
  const mod = (await import(pathToFileURL(file).href)) as { run(argv: string[]): Promise<number> };
  try {
    return await mod.run(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`macdemux ${command}: ${e.message}\n`);
    if (process.env.MACDEMUX_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
