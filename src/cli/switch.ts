/**
 * `macdemux switch`: run a userspace switch in the foreground until SIGINT/SIGTERM, printing live
 * per-port rates to stderr (redrawn in place on a TTY, one line a second otherwise).
 *
 *   macdemux switch [-n NS] --uplink DEV [--mode MODE] [--workers N] [--learning] [--realtime[=PRIO]] [--backend B] [--mtu N]
 *     --port DEV,mac=MAC[,mode=MODE][,vlan=N][,name=NAME][,source=MAC+MAC...][,nodst]
 *     [--port tap:NAME,mac=MAC,...] [--duration SECONDS] [--json]
 *     [--port vm:NAME,mac=MAC[,queues=N][,owner=UID][,group=GID][,mtu=N]] [--teardown-on-exit] [--state-dir DIR]
 */
import { BACKEND_CHOICES, DEFAULT_BACKEND, type BackendChoice } from '../dataplane/backend.ts';
import { InvalidArgumentError } from '../errors.ts';
import { Switch } from '../dataplane/switch.ts';
import { validateMode } from '../net/index.ts';
import type { MacvlanMode, PortSpec, SwitchCounters } from '../dataplane/types.ts';
import { findLink } from '../devices/index.ts';
import { deleteVmTap, qemuTapArgs, vmTapInfo, type VmTapOptions } from '../devices/vm-tap.ts';
import { DEFAULT_STATE_DIR } from '../service/args.ts';
import { ensureSwitchTap, forgetSwitchTap } from '../service/switch-taps.ts';

const USAGE = `usage: macdemux switch [-n NS] --uplink DEV [--mode MODE] [--workers N] [--learning] [--realtime[=PRIO]] [--backend B] [--mtu N]
         --port DEV,mac=MAC[,mode=MODE][,vlan=N][,name=NAME][,source=MAC+MAC...][,nodst]
         [--port tap:NAME,mac=MAC,...] ... [--duration SECONDS] [--json]
         [--port vm:NAME,mac=MAC[,queues=N][,owner=UID][,group=GID][,mtu=N]] [--teardown-on-exit] [--state-dir DIR]

  Frames from the uplink DEV are switched to the ports by destination MAC (and VLAN) with the
  kernel macvlan mode rules; frames arriving on a port's DEV are switched as sent by that port.
  --mode       default mode of ports without mode= (private|vepa|bridge|passthru|source; default bridge)
  --workers    worker threads (PACKET_FANOUT on the uplink), default 1
  --learning   learn source MACs behind ports (FDB with ageing; not macvlan behaviour)
  --realtime   run the workers with real-time priority (SCHED_FIFO 10; --realtime=PRIO for 1..99):
               on a busy host they then run as soon as frames arrive (needs CAP_SYS_NICE)
  --backend    uplink RX (default auto): packet (AF_PACKET rings), xdp (an XDP program forwards
               to kernel-device ports in the kernel, the rest to the rings), tc (a tc program
               forwards known unicast to kernel-device ports as whole skbs, offloads kept; one
               worker), auto (xdp on a NIC; tc on veth and other virtual devices with one worker
               where the kernel has tcx links (6.6+) and BPF may be loaded; packet otherwise; the
               start line says which and why)
  --mtu        largest frame the switch forwards is N + 14 bytes (default: the uplink's MTU;
               the devices' MTUs are yours to set, e.g. 9000 for jumbo frames)
  --duration   stop after SECONDS (default: run until SIGINT/SIGTERM)
  --json       print the final counters (and the backend) as JSON on stdout
  vm:NAME      a VM port: macdemux creates the persistent tap NAME (vnet_hdr, multiqueue with
               queues=N >= 2, as QEMU asks for it; owner/group
               may attach queues unprivileged), the switch serves its network side, and the
               hypervisor opens it by name (QEMU: -netdev tap,ifname=NAME,script=no,downscript=no,
               vhost=off[,queues=N]); mac= is the guest's MAC. The tap stays when the switch stops
               (the guest keeps its NIC across a restart) unless --teardown-on-exit.
               mtu= sets the tap's MTU (default: the switch's frame limit); above the limit
               (--mtu, else the uplink's MTU) it is refused: the guest's larger frames would be
               dropped as oversized.
  --teardown-on-exit  delete the VM taps macdemux made (this run, or marked by an earlier one) when it
                      stops; a tap someone else made is left alone
  --state-dir  where a VM tap this run creates is recorded and marked, so that
               \`macdemux down --state-dir DIR\` removes it (default ${DEFAULT_STATE_DIR})
`;

interface Args {
  netns?: string;
  uplink?: string;
  mode: MacvlanMode;
  workers: number;
  learning: boolean;
  realtime?: boolean | number;
  backend: BackendChoice;
  mtu?: number;
  ports: PortSpec[];
  durationS?: number;
  json: boolean;
  /** vm: ports' taps (by port order). */
  vmTaps: VmPortTap[];
  teardownOnExit: boolean;
  stateDir: string;
}

/** The tap of one vm: port. */
export interface VmPortTap extends VmTapOptions {
  /** The guest's MAC (the port's). */
  mac: string;
  /** Queues the hypervisor will open (for its command line; the tap takes up to 256). */
  queues: number;
}

/**
 * Parse one `--port vm:NAME,...` value: the VM-tap keys (queues, owner, group, mtu) are taken out,
 * the rest is an ordinary port on the tap's network device.
 */
export function parseVmPortArg(text: string, defaultMode: MacvlanMode, index: number, netns?: string): { spec: PortSpec; tap: VmPortTap } {
  const field = `--port[${index}]`;
  const [dev = '', ...parts] = text.split(',');
  const name = dev.slice(3);
  const tap: Partial<VmPortTap> & { name: string } = { name, queues: 1, ...(netns !== undefined ? { netns } : {}) };
  const rest: string[] = [];
  const int = (key: string, val: string, min: number, max: number): number => {
    const v = Number(val);
    if (!/^\d+$/.test(val) || v < min || v > max) throw new InvalidArgumentError(`${field}.${key}`, `an integer ${min}..${max}`, val);
    return v;
  };
  for (const p of parts) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const val = eq < 0 ? '' : p.slice(eq + 1);
    if (key === 'queues') tap.queues = int(key, val, 1, 256);
    else if (key === 'owner') tap.owner = int(key, val, 0, 0xfffffffe);
    else if (key === 'group') tap.group = int(key, val, 0, 0xfffffffe);
    else if (key === 'mtu') tap.mtu = int(key, val, 68, 65521);
    else rest.push(p);
  }
  const spec = parsePortArg([name, ...rest].join(','), defaultMode, index);
  return { spec, tap: { ...tap, mac: spec.mac } as VmPortTap };
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
  const a: Args = { mode: 'bridge', workers: 1, learning: false, backend: DEFAULT_BACKEND, ports: [], json: false, vmTaps: [], teardownOnExit: false, stateDir: DEFAULT_STATE_DIR };
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
      case '--realtime':
        a.realtime = true;
        break;
      case '--backend': {
        const v = value();
        if (!(BACKEND_CHOICES as readonly string[]).includes(v)) throw new InvalidArgumentError('--backend', `one of ${BACKEND_CHOICES.join(', ')}`, v);
        a.backend = v as BackendChoice;
        break;
      }
      case '--mtu': {
        const v = value();
        a.mtu = Number(v);
        if (!/^\d+$/.test(v) || a.mtu < 68 || a.mtu > 65521) throw new InvalidArgumentError('--mtu', 'an integer 68..65521', v);
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
      case '--teardown-on-exit':
        a.teardownOnExit = true;
        break;
      case '--state-dir':
        a.stateDir = value();
        break;
      default:
        if (arg.startsWith('--realtime=')) {
          const v = arg.slice('--realtime='.length);
          a.realtime = Number(v);
          if (!/^\d+$/.test(v) || a.realtime < 1 || a.realtime > 99) throw new InvalidArgumentError('--realtime', 'a SCHED_FIFO priority 1..99', v);
          break;
        }
        throw new InvalidArgumentError('argument', 'an option of `macdemux switch --help`', arg);
    }
  }
  a.ports = portTexts.map((t, i) => {
    if (!t.startsWith('vm:')) return parsePortArg(t, a.mode, i);
    const vm = parseVmPortArg(t, a.mode, i, a.netns);
    a.vmTaps.push(vm.tap);
    return vm.spec;
  });
  checkPortDevices(a.uplink, a.ports);
  return a;
}

/**
 * A port on the uplink itself, or two ports on one device, would see (and send) every frame twice:
 * refused. Exported for tests.
 */
export function checkPortDevices(uplink: string | undefined, ports: PortSpec[]): void {
  const seen = new Map<string, string>();
  ports.forEach((p, i) => {
    const b = p.backend as { kind: string; ifname?: string };
    if (!b.ifname) return;
    if (b.kind === 'packet' && b.ifname === uplink) throw new InvalidArgumentError(`--port[${i}]`, `a device other than the uplink ${uplink} (a port on the uplink receives every frame twice)`, b.ifname);
    const key = `${b.kind}:${b.ifname}`;
    const other = seen.get(key);
    if (other) throw new InvalidArgumentError(`--port[${i}]`, `a device no other port uses (${b.ifname} is already port ${other}; two ports on one device deliver every frame twice)`, b.ifname);
    seen.set(key, p.name ?? String(i));
  });
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

/**
 * A VM tap's mtu= above the switch's frame limit (--mtu, else the uplink's MTU) is refused: the
 * switch drops larger frames as oversized, so the guest's jumbo traffic would vanish with nothing
 * but a counter to show for it. An error (not a warning) because it is known before anything starts.
 */
async function checkVmTapMtus(args: Args): Promise<void> {
  let limit = args.mtu;
  let what = `--mtu ${args.mtu}`;
  if (limit === undefined) {
    const up = await findLink(args.uplink!, args.netns ? { netns: args.netns } : {});
    if (!up) return; // the switch's start reports the missing uplink
    limit = up.mtu;
    what = `the uplink ${args.uplink}'s MTU ${up.mtu}`;
  }
  for (const t of args.vmTaps) {
    t.mtu ??= limit;
    if (t.mtu > limit)
      throw new Error(`vm:${t.name},mtu=${t.mtu} is above the switch's frame limit (${what}): the guest's larger frames would be dropped as oversized; raise --mtu (and the uplink's MTU) or lower mtu=`);
  }
}

/** "xdp (native; requested)" / "packet (auto: ...)". */
function describeBackend(sw: Switch): string {
  const b = sw.backend();
  if (!b) return '?';
  return `${b.backend} (${b.xdpState ? `${b.xdpState}; ` : ''}${b.reason})`;
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
    ...(args.realtime !== undefined ? { realtime: args.realtime } : {}),
    backend: args.backend,
    ...(args.mtu !== undefined ? { mtu: args.mtu } : {}),
    defaultMode: args.mode,
    name: `cli:${args.uplink}`,
  });
  if (args.vmTaps.length) {
    try {
      await checkVmTapMtus(args);
    } catch (err) {
      process.stderr.write(`macdemux switch: ${(err as Error).message}\n`);
      return 2;
    }
  }
  // --teardown-on-exit removes only the taps macdemux made: created by this run, or carrying the
  // state's mark (made by an earlier switch run); a tap someone else made is adopted and left alone.
  const kept = new Map<VmPortTap, string>(); // tap -> why --teardown-on-exit leaves it
  for (const t of args.vmTaps) {
    try {
      const existed = (await vmTapInfo(t.name, t.netns)) !== undefined;
      const { info, owned, why } = await ensureSwitchTap(args.stateDir, { ...t, multiQueue: t.queues > 1 });
      if (existed && !owned) kept.set(t, why ?? 'it existed already');
      process.stderr.write(
        `macdemux switch: VM tap ${t.name} ready (queues attached: ${info.queuesAttached}; ${owned ? `recorded in ${args.stateDir}: \`macdemux down\` removes it` : `not recorded: ${why}`}); QEMU: ${qemuTapArgs(t.name, t.mac, t.queues, false).join(' ')}\n`,
      );
    } catch (err) {
      process.stderr.write(`macdemux switch: vm:${t.name}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const teardownTaps = async (): Promise<void> => {
    if (!args.teardownOnExit) return;
    for (const t of args.vmTaps) {
      if (kept.has(t)) {
        process.stderr.write(`macdemux switch: leaving tap ${t.name}: ${kept.get(t)}\n`);
        continue;
      }
      await deleteVmTap(t.name, t.netns)
        .then(() => forgetSwitchTap(args.stateDir, t))
        .catch((err: Error) => process.stderr.write(`macdemux switch: deleting tap ${t.name}: ${err.message}\n`));
    }
  };
  try {
    for (const p of args.ports) sw.addPort(p);
    await sw.start();
  } catch (err) {
    await teardownTaps();
    throw err;
  }
  const tty = process.stderr.isTTY === true;
  process.stderr.write(
    `macdemux switch: uplink ${args.uplink}${args.netns ? ` (netns ${args.netns})` : ''}, ${args.ports.length} port(s), ` +
      `${args.workers} worker(s); backend ${describeBackend(sw)}; started (Ctrl-C to stop)\n`,
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
  await teardownTaps();
  const final = sw.counters();
  const drops = final.rxFrames - final.forwarded;
  process.stderr.write(`macdemux switch: stopped; ${final.rxFrames} frames received, ${final.forwarded} forwarded, ${drops} dropped\n`);
  if (args.json) process.stdout.write(`${JSON.stringify({ ...final, backend: sw.backend() })}\n`);
  return 0;
}
