/**
 * `macdemux bench`: forwarding benchmark, macdemux side by side with the Linux bridge, kernel
 * macvlan and Open vSwitch, in one run (see docs/bench/RESULTS.md and bench/runner.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../package-info.ts';
import { userInfo } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';

const USAGE = `usage: macdemux bench [options]

Runs each forwarder in its own namespace lab (generator -> veth -> uplink -> forwarder -> veth -> sinks)
and reports forwarded pps, CPU per packet, zero-loss rate, latency, port scaling, TCP and ratios.

options:
  --quick                 smoke run (< 2 minutes): 64 B, 1 run, short trials, no variants or scaling
  --scenarios a,b         generator,bridge,macvlan,ovs,macdemux,macdemux-tap,macdemux-js (default: all)
  --json FILE             write every figure and the machine description as JSON
  --markdown FILE         write the Markdown report (table, ratios, latency, scaling, notes)
  --chart-dir DIR         write throughput.svg and latency.svg there (default: docs/bench for full runs,
                          none for --quick)
  --frame-sizes 64,512    frame sizes on the wire incl. FCS (default 64,512,1518; quick: 64)
  --runs N                max-load trials per scenario and frame size (default 5; quick: 1)
  --ports 2,64,4096       port counts; the first is the main one (default 2,64,4096; quick: 2)
  --measure-ms MS         steady-state window of each max-load trial (default 1500; quick: 700)
  --generator KIND        auto (native if built, else trafgen), native or trafgen
  --forwarder-cpu N       CPU for userspace forwarders (default 1; the generator uses CPU 0)
  --no-search             skip the zero-loss search (and so latency)
  --no-tcp                skip iperf3
  --no-variants           primary variants only (no learning bridge, no drop-all ring ceiling)
  --quiet                 no progress on stderr
`;

interface Parsed {
  quick: boolean;
  scenarios?: string[];
  json?: string;
  markdown?: string;
  chartDir?: string;
  frameSizes?: number[];
  runs?: number;
  ports?: number[];
  measureMs?: number;
  generator?: string;
  forwarderCpu?: number;
  search: boolean;
  tcp: boolean;
  variants?: boolean;
  quiet: boolean;
  help: boolean;
}

function intList(field: string, v: string): number[] {
  const xs = (v ?? '').split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x <= 0)) throw new InvalidArgumentError(field, 'a comma-separated list of positive integers', v);
  return xs;
}

function int(field: string, v: string, min = 0): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw new InvalidArgumentError(field, `an integer >= ${min}`, v);
  return x;
}

/** Parse `macdemux bench` arguments. */
export function parseBenchArgs(argv: string[]): Parsed {
  const p: Parsed = { quick: false, search: true, tcp: true, quiet: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new InvalidArgumentError(flag, 'a value', v);
      return v;
    };
    switch (flag) {
      case '--quick': p.quick = true; break;
      case '--scenarios': p.scenarios = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--json': p.json = val(); break;
      case '--markdown': p.markdown = val(); break;
      case '--chart-dir': p.chartDir = val(); break;
      case '--frame-sizes': p.frameSizes = intList('--frame-sizes', val()); break;
      case '--runs': p.runs = int('--runs', val(), 1); break;
      case '--ports': p.ports = intList('--ports', val()); break;
      case '--measure-ms': p.measureMs = int('--measure-ms', val(), 100); break;
      case '--generator': p.generator = val(); break;
      case '--forwarder-cpu': p.forwarderCpu = int('--forwarder-cpu', val(), 0); break;
      case '--no-search': p.search = false; break;
      case '--no-tcp': p.tcp = false; break;
      case '--no-variants': p.variants = false; break;
      case '--variants': p.variants = true; break;
      case '--quiet': p.quiet = true; break;
      case '-h': case '--help': p.help = true; break;
      default: throw new InvalidArgumentError('argument', 'a known option (see macdemux bench --help)', a);
    }
  }
  return p;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseBenchArgs(argv);
  if (p.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  process.env.MACDEMUX_LOG_LEVEL ??= 'warn';
  // Imported here so `--help` works without the lab or the addon.
  const { defaultOptions, runBench } = await import('../../bench/runner.ts');
  const { SCENARIO_NAMES } = await import('../../bench/types.ts');
  const { renderMarkdown } = await import('../../bench/report/markdown.ts');
  const { throughputChart, latencyChart } = await import('../../bench/report/svg.ts');
  const { Progress } = await import('../../bench/progress.ts');

  const opts = defaultOptions(p.quick);
  if (p.scenarios) {
    const bad = p.scenarios.filter((s) => !(SCENARIO_NAMES as readonly string[]).includes(s));
    if (bad.length || p.scenarios.length === 0) throw new InvalidArgumentError('--scenarios', `a comma-separated subset of ${SCENARIO_NAMES.join(',')}`, p.scenarios.join(','));
    opts.scenarios = SCENARIO_NAMES.filter((s) => p.scenarios!.includes(s));
  }
  if (p.frameSizes) {
    const bad = p.frameSizes.filter((s) => s < 64 || s > 1518);
    if (bad.length) throw new InvalidArgumentError('--frame-sizes', 'sizes between 64 and 1518', bad.join(','));
    opts.frameSizes = p.frameSizes;
  }
  if (p.runs) opts.runs = p.runs;
  if (p.ports) {
    if (p.ports[0]! < opts.sinks) throw new InvalidArgumentError('--ports', `a first port count >= ${opts.sinks} (the sinks)`, p.ports.join(','));
    opts.portCounts = p.ports;
  }
  if (p.measureMs) opts.measureMs = p.measureMs;
  if (p.generator) {
    if (!['auto', 'native', 'trafgen'].includes(p.generator)) throw new InvalidArgumentError('--generator', 'auto, native or trafgen', p.generator);
    opts.generator = p.generator as 'auto' | 'native' | 'trafgen';
  }
  if (p.forwarderCpu !== undefined) opts.forwarderCpu = p.forwarderCpu;
  if (!p.search) {
    opts.search = null;
  }
  if (!p.tcp) opts.tcpSeconds = 0;
  if (p.variants !== undefined) opts.variants = p.variants;
  opts.command = ['macdemux', 'bench', ...argv].join(' ');

  if (userInfo().uid !== 0) {
    process.stderr.write('macdemux bench: needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN) to build its namespace lab\n');
    return 1;
  }

  const report = await runBench(opts, new Progress(process.stderr, !p.quiet));

  const chartDir = p.chartDir ?? (p.quick ? undefined : join(PACKAGE_ROOT, 'docs', 'bench'));
  const mdTarget = p.markdown ? resolve(p.markdown) : undefined;
  let chart: string | undefined;
  let latChart: string | undefined;
  if (chartDir) {
    mkdirSync(chartDir, { recursive: true });
    const tp = join(chartDir, 'throughput.svg');
    writeFileSync(tp, throughputChart(report));
    chart = mdTarget ? relative(dirname(mdTarget), tp) : tp;
    const lc = latencyChart(report);
    if (lc) {
      const lp = join(chartDir, 'latency.svg');
      writeFileSync(lp, lc);
      latChart = mdTarget ? relative(dirname(mdTarget), lp) : lp;
    }
  }
  const md = renderMarkdown(report, { ...(chart ? { chart } : {}), ...(latChart ? { latencyChart: latChart } : {}) });
  process.stdout.write(`\n${md}`);
  if (p.json) {
    mkdirSync(dirname(resolve(p.json)), { recursive: true });
    writeFileSync(p.json, JSON.stringify(report, null, 2) + '\n');
  }
  if (mdTarget) {
    mkdirSync(dirname(mdTarget), { recursive: true });
    writeFileSync(mdTarget, md);
  }
  return report.scenarios.some((r) => r.status === 'failed') ? 1 : 0;
}
