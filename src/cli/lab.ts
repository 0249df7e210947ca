/**
 * `macdemux lab cleanup` removes the namespaces of dead lab runs; `macdemux lab list [--json]` shows
 * every lab namespace (`mdx-<pid>-...`) with its owner process and whether it is stale.
 */
import { cleanupStaleLabs, listLabNamespaces } from '../lab/index.ts';

const USAGE = `usage: macdemux lab cleanup      remove namespaces of dead lab runs (owner pid gone)
       macdemux lab list [--json]  list lab namespaces with owner pid and state
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'cleanup': {
      if (rest.length) return usageError(`unexpected argument "${rest[0]}"`);
      const removed = await cleanupStaleLabs();
      for (const name of removed) process.stdout.write(`removed ${name}\n`);
      process.stdout.write(`${removed.length} stale lab namespace(s) removed\n`);
      return 0;
    }
    case 'list':
    case 'ls': {
      const json = rest.includes('--json') || rest.includes('-j');
      const bad = rest.find((a) => a !== '--json' && a !== '-j');
      if (bad) return usageError(`unexpected argument "${bad}"`);
      const labs = listLabNamespaces();
      if (json) {
        process.stdout.write(`${JSON.stringify(labs.map((l) => ({ ...l, stale: !l.ownerAlive })))}\n`);
      } else if (labs.length === 0) {
        process.stdout.write('no lab namespaces\n');
      } else {
        const w = Math.max(...labs.map((l) => l.name.length), 'NAMESPACE'.length);
        process.stdout.write(`${'NAMESPACE'.padEnd(w)}  OWNER-PID  STATE\n`);
        for (const l of labs) {
          process.stdout.write(`${l.name.padEnd(w)}  ${String(l.ownerPid).padEnd(9)}  ${l.ownerAlive ? 'live' : 'stale'}\n`);
        }
      }
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      return usageError(`unknown subcommand "${sub}"`);
  }
}

function usageError(msg: string): number {
  process.stderr.write(`macdemux lab: ${msg}\n${USAGE}`);
  return 2;
}
