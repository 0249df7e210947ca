/**
 * `macdemux demo`: the product in one command, no arguments and no real NIC needed.
 * Builds a namespace lab, runs the userspace engine with traffic and a live view, then the kernel
 * bridge on the same lab, prints a comparison table and tears everything down (also on Ctrl-C).
 */
import { userInfo } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';

const USAGE = `usage: macdemux demo [--ports N] [--seconds S] [--frame-size B] [--json]

  --ports N        endpoint namespaces (default 3, max 64)
  --seconds S      seconds of traffic per forwarder (default 5)
  --frame-size B   frame size on the wire incl. FCS, 64..1518 (default 64)
  --json           print the result as JSON on stdout (the live view stays on stderr)
  --quiet          no live view
`;

export interface DemoArgs {
  ports: number;
  seconds: number;
  frameSize: number;
  json: boolean;
  quiet: boolean;
  help: boolean;
}

export function parseDemoArgs(argv: string[]): DemoArgs {
  const a: DemoArgs = { ports: 3, seconds: 5, frameSize: 64, json: false, quiet: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const num = (field: string, min: number, max: number, integer = true): number => {
      const v = inline ?? argv[++i];
      const x = Number(v);
      if (v === undefined || v === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < min || x > max) {
        throw new InvalidArgumentError(field, `${integer ? 'an integer' : 'a number'} between ${min} and ${max}`, v);
      }
      return x;
    };
    switch (flag) {
      case '--ports': a.ports = num('--ports', 1, 64); break;
      case '--seconds': a.seconds = num('--seconds', 0.5, 600, false); break;
      case '--frame-size': a.frameSize = num('--frame-size', 64, 1518); break;
      case '--json': a.json = true; break;
      case '--quiet': a.quiet = true; break;
      case '-h': case '--help': a.help = true; break;
      default: throw new InvalidArgumentError('argument', 'a known option (see macdemux demo --help)', arg);
    }
  }
  return a;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseDemoArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (userInfo().uid !== 0) {
    process.stderr.write('macdemux demo: needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN) to build its namespace lab\n');
    return 1;
  }
  // Lifecycle logs (switch started/stopped) would interleave with the live view: warnings only.
  process.env.MACDEMUX_LOG_LEVEL ??= 'warn';
  const { runDemo } = await import('../demo/run-demo.ts');
  const { renderDemoTable } = await import('../demo/report.ts');
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\ninterrupted: stopping traffic and tearing the lab down (Ctrl-C again to force)\n');
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    if (!args.json && !args.quiet) {
      process.stderr.write(`building a lab: generator, switch and ${args.ports} endpoint namespaces; ${args.seconds} s of traffic per forwarder\n`);
    }
    const result = await runDemo({ ports: args.ports, seconds: args.seconds, frameSize: args.frameSize, quiet: args.quiet, signal: abort.signal });
    process.stdout.write(args.json ? JSON.stringify(result, null, 2) + '\n' : `\n${renderDemoTable(result)}`);
    if (abort.signal.aborted) return 130;
    return result.phases.some((p) => p.status === 'failed') || result.phases.every((p) => p.status !== 'ok') ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
