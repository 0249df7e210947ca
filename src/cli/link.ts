/**
 * `macdemux link ...`: iproute2-style link management over rtnetlink.
 *
 *   macdemux [-n NS] link add NAME type macvlan|macvtap link PARENT [mode MODE] [nopromisc] [nodst]
 *                    [address MAC] [mtu N] [netns NS] [macaddr add|set MAC...] [bcqueuelen N] [bclim N] [up]
 *   macdemux [-n NS] link add NAME type veth peer name PEER [netns NS] [address MAC]
 *   macdemux [-n NS] link add NAME type bridge
 *   macdemux [-n NS] link set NAME [up|down] [address MAC] [mtu N] [promisc on|off] [netns NS]
 *                    [master BR|nomaster] [name NEW] [mode MODE] [flag nopromisc|nodst|null]
 *                    [macaddr add|del|set|flush MAC...] [bcqueuelen N] [bclim N] [hairpin on|off]
 *   macdemux [-n NS] link del NAME
 *   macdemux [-n NS] link show [NAME] [--json]
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { macvtapDevice, macvtapNodePath } from '../devices/macvtap-node.ts';
import { DEFAULT_STATE_DIR } from '../service/args.ts';
import {
  changeMacvlan,
  createBridge,
  createLink,
  createMacvlan,
  createVeth,
  deleteLink,
  getLink,
  listLinks,
  setBridgePort,
  setLink,
  setSourceMacs,
  type LinkInfo,
  type LinkSettings,
  type MacvlanSettings,
} from '../devices/index.ts';
import { namespaceNamesByNsid } from '../devices/nsid.ts';
import { normalizeMac, validateMacaddrOp, validateMode, type MacaddrOp } from '../net/index.ts';
import { InvalidArgumentError } from '../errors.ts';
import { UsageError } from '../service/args.ts';
import { linkToIpJson } from './ip-json.ts';
import { extractOptions, jsonText, type GlobalOptions } from './options.ts';
import { Words } from './words.ts';

export const LINK_USAGE = `usage: macdemux [-j] [-s] [-d] [-n NETNS] link <command>
  link add NAME type macvlan|macvtap link PARENT [mode private|vepa|bridge|passthru|source]
           [nopromisc] [nodst] [address MAC] [mtu N] [netns NS] [macaddr add|set MAC...]
           [bcqueuelen N] [bclim N] [numtxqueues N] [up]
  link add NAME type veth peer name PEER [netns NS] [address MAC] [up]
  link add NAME type bridge [address MAC] [mtu N] [up]
  link set NAME [up|down] [address MAC] [mtu N] [promisc on|off] [netns NS] [master BR|nomaster]
           [name NEW] [txqueuelen N] [type macvlan|macvtap] [mode MODE] [flag nopromisc|nodst|null]
           [nopromisc] [nodst] [macaddr add|del|set|flush [MAC...]] [bcqueuelen N] [bclim N]
           [hairpin on|off] [learning on|off]
  link del NAME
  link show [[dev] NAME] [type KIND] [master BR] [up]
Options (before "link", as in ip): -j[son] JSON in ip -j's keys, -p[retty], -s[tats] counters,
  -d[etails] kind-specific data, -n[etns] NETNS runs inside that network namespace.
`;

const HINT = 'try "macdemux link help"';

const MACADDR_STOP = new Set([
  'up', 'down', 'address', 'mtu', 'promisc', 'netns', 'master', 'nomaster', 'name', 'mode', 'flag',
  'nopromisc', 'nodst', 'macaddr', 'bcqueuelen', 'bclim', 'hairpin', 'learning', 'type', 'link',
  'txqueuelen', 'numtxqueues', 'numrxqueues', 'peer',
]);

/** MACs after `macaddr OP` up to the next keyword. */
function macList(w: Words): string[] {
  const out: string[] = [];
  while (!w.done && !MACADDR_STOP.has(w.peek() as string)) out.push(w.next('macaddr'));
  return out;
}

function netnsArg(s: string): string | { pid: number } {
  return /^\d+$/.test(s) ? { pid: Number(s) } : s;
}

async function add(args: string[], g: GlobalOptions): Promise<number> {
  const netns = g.netns;
  const w = new Words(args);
  let name: string | undefined;
  let kind: string | undefined;
  let parent: string | undefined;
  let mode: string | undefined;
  let mac: string | undefined;
  let mtu: number | undefined;
  let target: string | { pid: number } | undefined;
  let nopromisc = false;
  let nodst = false;
  let up = false;
  let sourceMacs: string[] | undefined;
  let bcQueueLen: number | undefined;
  let bcCutoff: number | undefined;
  let numTxQueues: number | undefined;
  let numRxQueues: number | undefined;
  let txQueueLen: number | undefined;
  let peer: { name?: string; netns?: string | { pid: number }; mac?: string } | undefined;
  while (!w.done) {
    const k = w.next('argument');
    switch (k) {
      case 'name': name = w.next('name'); break;
      case 'dev': name = w.next('dev'); break;
      case 'type': kind = w.next('type'); break;
      case 'link': parent = w.next('link'); break;
      case 'mode': mode = w.next('mode'); break;
      case 'address': mac = w.next('address'); break;
      case 'mtu': mtu = w.int('mtu'); break;
      case 'netns': target = netnsArg(w.next('netns')); break;
      case 'nopromisc': nopromisc = true; break;
      case 'nodst': nodst = true; break;
      case 'flag': {
        const f = w.next('flag');
        if (f === 'nopromisc') nopromisc = true;
        else if (f === 'nodst') nodst = true;
        else if (f !== 'null') throw new InvalidArgumentError('flag', 'nopromisc, nodst or null', f);
        break;
      }
      case 'up': up = true; break;
      case 'bcqueuelen': bcQueueLen = w.int('bcqueuelen'); break;
      case 'bclim': bcCutoff = w.int('bclim'); break;
      case 'numtxqueues': numTxQueues = w.int('numtxqueues'); break;
      case 'numrxqueues': numRxQueues = w.int('numrxqueues'); break;
      case 'txqueuelen': case 'txqlen': case 'qlen': txQueueLen = w.int('txqueuelen'); break;
      case 'macaddr': {
        const op = w.next('macaddr');
        if (op !== 'add' && op !== 'set') throw new InvalidArgumentError('macaddr', '"add" or "set" when creating', op);
        sourceMacs = [...(sourceMacs ?? []), ...macList(w)];
        break;
      }
      case 'peer': {
        peer = {};
        // peer [name] P [netns NS] [address MAC]
        while (!w.done) {
          const pk = w.peek();
          if (pk === 'name') { w.next('peer'); peer.name = w.next('peer name'); }
          else if (pk === 'netns') { w.next('peer'); peer.netns = netnsArg(w.next('peer netns')); }
          else if (pk === 'address') { w.next('peer'); peer.mac = w.next('peer address'); }
          else if (peer.name === undefined && pk !== undefined && !MACADDR_STOP.has(pk)) peer.name = w.next('peer name');
          else break;
        }
        break;
      }
      default:
        if (name === undefined) name = k;
        else throw new UsageError(`add: unknown word "${k}"`, HINT);
    }
  }
  if (name === undefined) throw new InvalidArgumentError('NAME', 'a device name', undefined);
  if (kind === undefined) throw new InvalidArgumentError('type', 'macvlan, macvtap, veth or bridge', undefined);
  const common = {
    name,
    ...(mac !== undefined ? { mac } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(up ? { up } : {}),
    ...(target !== undefined ? { targetNetns: target } : {}),
    ...(numTxQueues !== undefined ? { numTxQueues } : {}),
    ...(numRxQueues !== undefined ? { numRxQueues } : {}),
    ...(txQueueLen !== undefined ? { txQueueLen } : {}),
  };
  const o = netns !== undefined ? { netns } : {};
  let link: LinkInfo;
  if (kind === 'macvlan' || kind === 'macvtap') {
    if (parent === undefined) throw new InvalidArgumentError('link', 'a parent device (link PARENT)', undefined);
    link = await createMacvlan(
      {
        ...common,
        kind,
        parent,
        ...(mode !== undefined ? { mode: validateMode(mode) } : {}),
        ...(nopromisc ? { nopromisc } : {}),
        ...(nodst ? { nodst } : {}),
        ...(sourceMacs !== undefined ? { sourceMacs } : {}),
        ...(bcQueueLen !== undefined ? { bcQueueLen } : {}),
        ...(bcCutoff !== undefined ? { bcCutoff } : {}),
      },
      o,
    );
  } else if (kind === 'veth') {
    if (!peer?.name) throw new InvalidArgumentError('peer name', 'the name of the other end', undefined);
    link = await createVeth(
      {
        ...common,
        peer: peer.name,
        ...(peer.netns !== undefined ? { peerNetns: peer.netns } : {}),
        ...(peer.mac !== undefined ? { peerMac: peer.mac } : {}),
        ...(up ? { peerUp: true } : {}),
      },
      o,
    );
  } else if (kind === 'bridge') {
    link = await createBridge(common, o);
  } else {
    link = await createLink({ ...common, kind, ...(parent !== undefined ? { parent } : {}) }, o);
  }
  if (g.json) process.stdout.write(jsonText([linkToIpJson(link, new Map(), g)], g));
  return 0;
}

async function set(args: string[], netns: string | undefined): Promise<number> {
  const w = new Words(args);
  let name: string | undefined;
  const link: LinkSettings = {};
  const mv: MacvlanSettings = {};
  const port: { hairpin?: boolean; learning?: boolean } = {};
  const macOps: { op: MacaddrOp; macs: string[] }[] = [];
  while (!w.done) {
    const k = w.next('argument');
    switch (k) {
      case 'dev': name = w.next('dev'); break;
      case 'up': link.up = true; break;
      case 'down': link.up = false; break;
      case 'address': link.mac = w.next('address'); break;
      case 'mtu': link.mtu = w.int('mtu'); break;
      case 'promisc': link.promisc = w.onOff('promisc'); break;
      case 'netns': link.netns = netnsArg(w.next('netns')); break;
      case 'master': link.master = w.next('master'); break;
      case 'nomaster': link.master = null; break;
      case 'name': link.name = w.next('name'); break;
      case 'txqueuelen': case 'txqlen': case 'qlen': link.txQueueLen = w.int('txqueuelen'); break;
      case 'type': {
        const t = w.next('type');
        if (t !== 'macvlan' && t !== 'macvtap') throw new InvalidArgumentError('type', 'macvlan or macvtap', t);
        break;
      }
      case 'mode': mv.mode = validateMode(w.next('mode')); break;
      case 'nopromisc': mv.nopromisc = true; break;
      case 'nodst': mv.nodst = true; break;
      case 'flag': {
        const f = w.next('flag');
        if (!['nopromisc', 'nodst', 'null'].includes(f)) throw new InvalidArgumentError('flag', 'nopromisc, nodst or null', f);
        mv.nopromisc = f === 'nopromisc';
        mv.nodst = f === 'nodst';
        break;
      }
      case 'bcqueuelen': mv.bcQueueLen = w.int('bcqueuelen'); break;
      case 'bclim': mv.bcCutoff = w.int('bclim'); break;
      case 'macaddr': {
        const op = validateMacaddrOp(w.next('macaddr'), 'macaddr');
        // Validate now, so a bad MAC fails before any other part of the command is applied.
        const macs = macList(w).map((m, i) => normalizeMac(m, `macaddr ${op} [${i}]`));
        macOps.push({ op, macs });
        break;
      }
      case 'hairpin': port.hairpin = w.onOff('hairpin'); break;
      case 'learning': port.learning = w.onOff('learning'); break;
      default:
        if (name === undefined) name = k;
        else throw new UsageError(`set: unknown word "${k}"`, HINT);
    }
  }
  if (name === undefined) throw new InvalidArgumentError('NAME', 'a device name', undefined);
  const o = netns !== undefined ? { netns } : {};
  // Generic settings first (a bridge port needs its master before hairpin), then kind-specific
  // ones, and last what renames the device or moves it away.
  const { netns: moveTo, name: rename, ...generic } = link;
  if (Object.keys(generic).length) await setLink(name, generic, o);
  if (Object.keys(mv).length) await changeMacvlan(name, mv, o);
  for (const m of macOps) await setSourceMacs(name, m.op, m.macs, o);
  if (Object.keys(port).length) await setBridgePort(name, port, o);
  if (moveTo !== undefined || rename !== undefined) {
    await setLink(name, { ...(moveTo !== undefined ? { netns: moveTo } : {}), ...(rename !== undefined ? { name: rename } : {}) }, o);
  }
  return 0;
}

/** PARENT column: the parent's name, or `ifN@NAMESPACE` when it lives in another namespace (as ip's link-netns). */
function parentText(l: LinkInfo, nsNames: ReadonlyMap<number, string>): string {
  if (l.parent !== undefined) return l.parent;
  if (l.parentIndex === undefined) return '-';
  if (l.netnsId === undefined) return `if${l.parentIndex}`;
  return `if${l.parentIndex}@${nsNames.get(l.netnsId) ?? `nsid${l.netnsId}`}`;
}

/** One line per link, `ip -br`-like with macvlan details. */
export function formatLinkTable(links: LinkInfo[], nsNames: ReadonlyMap<number, string> = new Map()): string {
  const rows = links.map((l) => [
    String(l.ifindex),
    l.name,
    l.kind ?? '-',
    parentText(l, nsNames),
    l.macvlan
      ? [l.macvlan.mode, l.macvlan.nopromisc ? 'nopromisc' : '', l.macvlan.nodst ? 'nodst' : ''].filter(Boolean).join(',')
      : '-',
    l.mac ?? '-',
    String(l.mtu),
    l.operstate,
    l.flags.join(','),
    l.master ?? '-',
    l.macvlan?.sourceMacs.length ? l.macvlan.sourceMacs.join(',') : '-',
  ]);
  const head = ['IDX', 'NAME', 'KIND', 'PARENT', 'MODE', 'MAC', 'MTU', 'STATE', 'FLAGS', 'MASTER', 'SOURCE-MACS'];
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `-s`: the counters under the table, one line per link. */
function formatStats(links: LinkInfo[]): string {
  const head = ['NAME', 'RX-BYTES', 'RX-PACKETS', 'RX-ERRORS', 'RX-DROPPED', 'TX-BYTES', 'TX-PACKETS', 'TX-ERRORS', 'TX-DROPPED'];
  const rows = links.map((l) => {
    const s = l.stats;
    return [l.name, ...(s ? [s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped, s.txBytes, s.txPackets, s.txErrors, s.txDropped].map(String) : Array(8).fill('-'))];
  });
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** The filters of `link show`: [dev] NAME, type KIND (KIND_slave for ports), master BR, up. */
export interface LinkFilter {
  name?: string;
  kind?: string;
  master?: string;
  up?: boolean;
}

export function parseLinkFilter(args: string[]): LinkFilter {
  const w = new Words(args);
  const f: LinkFilter = {};
  while (!w.done) {
    const k = w.next('argument');
    if (k === 'dev') f.name = w.next('dev');
    else if (k === 'type') f.kind = w.next('type');
    else if (k === 'master') f.master = w.next('master');
    else if (k === 'up') f.up = true;
    else if (f.name === undefined) f.name = k;
    else throw new UsageError(`show: unknown word "${k}" (one NAME at most)`, HINT);
  }
  return f;
}

/** Whether a link passes the filter (ip matches `type X_slave` against the port kind). */
export function matchesLinkFilter(l: LinkInfo, f: LinkFilter): boolean {
  if (f.kind !== undefined) {
    const slave = f.kind.endsWith('_slave') ? f.kind.slice(0, -'_slave'.length) : undefined;
    if (slave !== undefined ? l.slaveKind !== slave : l.kind !== f.kind) return false;
  }
  if (f.master !== undefined && l.master !== f.master) return false;
  if (f.up && !l.up) return false;
  return true;
}

async function show(args: string[], g: GlobalOptions): Promise<number> {
  const f = parseLinkFilter(args);
  const o = g.netns !== undefined ? { netns: g.netns } : {};
  // All links are read even for one name: M-DOWN needs the parent's flags.
  const all = await listLinks(o);
  const byIndex = new Map(all.map((l) => [l.ifindex, l]));
  if (f.name !== undefined && !all.some((l) => l.name === f.name)) await getLink(f.name, o); // ENODEV, as ip says
  const links = all.filter((l) => (f.name === undefined || l.name === f.name) && matchesLinkFilter(l, f));
  if (g.json) {
    process.stdout.write(jsonText(links.map((l) => linkToIpJson(l, byIndex, g)), g));
    return 0;
  }
  const nsNames = links.some((l) => l.netnsId !== undefined) ? await namespaceNamesByNsid(o) : new Map<number, string>();
  process.stdout.write(formatLinkTable(links, nsNames));
  if (g.stats) process.stdout.write(`\n${formatStats(links)}`);
  const taps = links.filter((l) => l.kind === 'macvtap');
  if (taps.length) process.stdout.write(`\n${(await Promise.all(taps.map((l) => macvtapDeviceLine(l.name, g.netns)))).join('\n')}\n`);
  return 0;
}

/**
 * The character device of a macvtap: its numbers from the namespace's own sysfs and the node
 * macdemuxd made for it (under the default state directory), never a /dev/tapN guess.
 */
async function macvtapDeviceLine(name: string, netns?: string): Promise<string> {
  try {
    const d = await macvtapDevice(name, netns);
    const node = macvtapNodePath(join(DEFAULT_STATE_DIR, 'dev'), name, netns);
    const made = existsSync(node) && statSync(node).isCharacterDevice() && statSync(node).rdev === makedev(d.major, d.minor);
    return `${name}: character device ${d.major}:${d.minor}${made ? `, node ${node}` : ' (no node made by macdemuxd; not /dev/tap' + d.ifindex + ': ifindexes repeat across namespaces)'}`;
  } catch (err) {
    return `${name}: character device unknown (${(err as Error).message})`;
  }
}

/** Linux's dev_t encoding (glibc gnu_dev_makedev). */
function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12) | ((major & ~0xfff) * 2 ** 32);
}

/** Entry point: `macdemux link ...`; `globals` are the options given before "link". */
export async function run(argv: string[], globals?: GlobalOptions): Promise<number> {
  const { opts: g, rest } = extractOptions(argv, HINT, globals && { ...globals });
  if (g.help) {
    process.stdout.write(LINK_USAGE);
    return 0;
  }
  const [sub, ...args] = rest;
  switch (sub) {
    case 'add':
    case 'create':
      return add(args, g);
    case 'del':
    case 'delete': {
      const w = new Words(args);
      let name = w.next('NAME');
      if (name === 'dev') name = w.next('dev');
      if (!w.done) throw new UsageError(`del: unknown word "${w.peek()}"`, HINT);
      await deleteLink(name, g.netns !== undefined ? { netns: g.netns } : {});
      return 0;
    }
    case 'set':
    case 'change':
      return set(args, g.netns);
    case undefined:
    case 'show':
    case 'list':
    case 'ls':
      return show(args, g);
    case 'help':
      process.stdout.write(LINK_USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${sub}"`, HINT);
  }
}
