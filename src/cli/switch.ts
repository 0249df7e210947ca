/**
 * `macdemux switch`: run a userspace switch in the foreground until SIGINT/SIGTERM, printing live
 * per-port rates to stderr (redrawn in place on a TTY, one line a second otherwise).
 *
 *   macdemux switch [-n NS] --uplink DEV [--mode MODE] [--workers N] [--learning]
 *     --port DEV,mac=MAC[,mode=MODE][,vlan=N][,name=NAME][,source=MAC+MAC...][,nodst]
 *     [--port tap:NAME,mac=MAC,...] [--duration SECONDS] [--json]
 */
import { InvalidArgumentError } from '../errors.ts';
import { Switch } from '../dataplane/switch.ts';
import { validateMode } from '../net/index.ts';
import type { MacvlanMode, PortSpec, SwitchCounters } from '../dataplane/types.ts';

const USAGE = `usage: macdemux switch [-n NS] --uplink DEV [--mode MODE] [--workers N] [--learning]
         --port DEV,mac=MAC[,mode=MODE][,vlan=N][,name=NAME][,source=MAC+MAC...][,nodst]
         [--port tap:NAME,mac=MAC,...] ... [--duration SECONDS] [--json]

  Frames from the uplink DEV are switched to the ports by destination MAC (and VLAN) with the
  kernel macvlan mode rules; frames arriving on a port's DEV are switched as sent by that port.
  --mode       default mode of ports without mode= (private|vepa|bridge|passthru|source; default bridge)
  --workers    worker threads (PACKET_FANOUT on the uplink), default 1
  --learning   learn source MACs behind ports (FDB with ageing; not macvlan behaviour)
  --duration   stop after SECONDS (default: run until SIGINT/SIGTERM)
  --json       print the final counters as JSON on stdout
`;

interface Args {
  netns?: string;
  uplink?: string;
  mode: MacvlanMode;
  workers: number;
  learning: boolean;
  ports: PortSpec[];
  durationS?: number;
  json: boolean;
}

/** Parse one --port value. */
export function parsePortArg(text: string, defaultMode: MacvlanMode, index: number): PortSpec {
  const field = `--port[${index}]`;
  const parts = text.split(',');
  const dev = parts.shift() ?? '';
  let backend: PortSpec['backend'];
  let defaultName = dev;
  if (dev.startsWith('tap:')) {
    const ifname = dev.slice(4);
    backend = { kind: 'tap', ifname };
    defaultName = ifname;
  } else {
    backend = { kind: 'packet', ifname: dev };
  }
  if (!defaultName) throw new InvalidArgumentError(field, 'DEV,mac=MAC[,mode=MODE][,vlan=N]', text);
  const spec: Partial<PortSpec> & { backend: PortSpec['backend'] } = { name: defaultName, mode: defaultMode, backend };
  for (const p of parts) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const val = eq < 0 ? '' : p.slice(eq + 1);
    switch (key) {
      case 'mac':
        spec.mac = val;
        break;
      case 'mode':
        spec.mode = validateMode(val, `${field}.mode`);
        break;
      case 'vlan': {
        const v = Number(val);
        if (!/^\d+$/.test(val) || v < 1 || v > 4094) throw new InvalidArgumentError(`${field}.vlan`, 'a VLAN id 1..4094', val);
        spec.vlan = v;
        break;
      }
      case 'name':
        spec.name = val;
        break;
      case 'source':
        spec.sourceMacs = val.split('+').filter((m) => m.length > 0);
        break;
      case 'nodst':
        spec.nodst = true;
        break;
      case 'queues': {
        if (backend.kind !== 'tap') throw new InvalidArgumentError(`${field}.queues`, 'queues only on tap: ports', val);
        backend.queues = Number(val);
        break;
      }
      default:
        throw new InvalidArgumentError(`${field}`, 'keys mac, mode, vlan, name, source, nodst, queues', key);
    }
  }
  if (spec.mac === undefined) throw new InvalidArgumentError(`${field}.mac`, 'mac=MAC', text);
  return spec as PortSpec;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { mode: 'bridge', workers: 1, learning: false, ports: [], json: false };
  const portTexts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new InvalidArgumentError(arg, 'a value', undefined);
      return v;
    };
    switch (arg) {
      case '-n':
      case '--netns':
        a.netns = value();
        break;
      case '--uplink':
        a.uplink = value();
        break;
      case '--mode':
        a.mode = validateMode(value(), '--mode');
        break;
      case '--workers': {
        const v = value();
        a.workers = Number(v);
        if (!/^\d+$/.test(v) || a.workers < 1 || a.workers > 32) throw new InvalidArgumentError('--workers', 'an integer 1..32', v);
        break;
      }
      case '--learning':
        a.learning = true;
        break;
      case '--port':
        portTexts.push(value());
        break;
      case '--duration': {
        const v = value();
        a.durationS = Number(v);
        if (!(a.durationS > 0)) throw new InvalidArgumentError('--duration', 'a positive number of seconds', v);
        break;
      }
      case '--json':
        a.json = true;
        break;
      default:
        throw new InvalidArgumentError('argument', 'an option of `macdemux switch --help`', arg);
    }
  }
  a.ports = portTexts.map((t, i) => parsePortArg(t, a.mode, i));
  return a;
}

function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** One status block: per-port rx/tx pps since the previous snapshot. */
export function formatRates(prev: SwitchCounters, cur: SwitchCounters, dtS: number, elapsedS: number): string[] {
  const pps = (a: number, b: number) => rate(Math.max(0, b - a) / dtS);
  const lines: string[] = [];
  const drops = Object.entries(cur.drops)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  lines.push(
    `[${elapsedS.toFixed(0)}s] uplink rx ${pps(prev.uplink.rxPackets, cur.uplink.rxPackets)}pps tx ${pps(prev.uplink.txPackets, cur.uplink.txPackets)}pps` +
      `${cur.uplink.ringDrops ? ` ringDrops ${cur.uplink.ringDrops}` : ''}` +
      ` | forwarded ${cur.forwarded} dropped ${cur.rxFrames - cur.forwarded}${drops ? ` (${drops})` : ''}`,
  );
  for (const [name, c] of Object.entries(cur.ports)) {
    const p = prev.ports[name] ?? c;
    lines.push(`  ${name}: rx ${pps(p.rxPackets, c.rxPackets)}pps tx ${pps(p.txPackets, c.txPackets)}pps (total rx ${c.rxPackets} tx ${c.txPackets}${c.txDropped ? ` txDropped ${c.txDropped}` : ''})`);
  }
  return lines;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
    if (!args.uplink) throw new InvalidArgumentError('--uplink', 'an interface name', undefined);
    if (args.ports.length === 0) throw new InvalidArgumentError('--port', 'at least one port', undefined);
  } catch (err) {
    process.stderr.write(`macdemux switch: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const sw = new Switch({
    uplink: args.uplink,
    ...(args.netns !== undefined ? { netns: args.netns } : {}),
    workers: args.workers,
    learning: args.learning,
    defaultMode: args.mode,
    name: `cli:${args.uplink}`,
  });
  for (const p of args.ports) sw.addPort(p);
  await sw.start();
  const tty = process.stderr.isTTY === true;
  process.stderr.write(
    `macdemux switch: uplink ${args.uplink}${args.netns ? ` (netns ${args.netns})` : ''}, ${args.ports.length} port(s), ` +
      `${args.workers} worker(s); started (Ctrl-C to stop)\n`,
  );
  const t0 = Date.now();
  let prev = sw.counters();
  let prevT = t0;
  let drawn = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    const cur = sw.counters();
    const lines = formatRates(prev, cur, (now - prevT) / 1000, (now - t0) / 1000);
    prev = cur;
    prevT = now;
    if (tty) {
      if (drawn > 0) process.stderr.write(`\x1b[${drawn}F\x1b[J`);
      process.stderr.write(`${lines.join('\n')}\n`);
      drawn = lines.length;
    } else {
      process.stderr.write(`${lines.join(' ; ')}\n`);
    }
  }, 1000);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (args.durationS !== undefined) setTimeout(done, args.durationS * 1000).unref();
  });
  clearInterval(timer);
  await sw.stop();
  const final = sw.counters();
  const drops = final.rxFrames - final.forwarded;
  process.stderr.write(`macdemux switch: stopped; ${final.rxFrames} frames received, ${final.forwarded} forwarded, ${drops} dropped\n`);
  if (args.json) process.stdout.write(`${JSON.stringify(final)}\n`);
  return 0;
}
