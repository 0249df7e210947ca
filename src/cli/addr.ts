/**
 * `macdemux addr ...`: IPv4/IPv6 addresses over rtnetlink, iproute2 words.
 *
 *   macdemux [-j] [-n NS] [-4|-6] addr add ADDR[/LEN] dev NAME [nodad] [noprefixroute] [scope global|link|host]
 *   macdemux [-n NS] addr del ADDR[/LEN] dev NAME
 *   macdemux [-j] [-n NS] [-4|-6] addr show [[dev] NAME]
 *
 * An address without a prefix length is a host address (/32 or /128), as `ip addr add` reads it.
 */
import { addAddress, deleteAddress, listAddresses, listLinks, type AddressInfo } from '../devices/index.ts';
import { parseCidr } from '../devices/validate.ts';
import { InvalidArgumentError } from '../errors.ts';
import { UsageError } from '../service/args.ts';
import { addressesToIpJson } from './ip-json.ts';
import { extractOptions, jsonText, type GlobalOptions } from './options.ts';
import { Words } from './words.ts';

export const ADDR_USAGE = `usage: macdemux [-j] [-n NETNS] [-4|-6] addr <command>
  addr add ADDR[/LEN] dev NAME [nodad] [noprefixroute] [scope global|link|host]
  addr del ADDR[/LEN] dev NAME
  addr show [[dev] NAME]
ADDR without /LEN is a host address (/32 for IPv4, /128 for IPv6), as in ip.
`;

const HINT = 'try "macdemux addr help"';

function formatAddrTable(list: AddressInfo[]): string {
  const rows = list.map((a) => [a.ifname ?? `if${a.ifindex}`, a.family, a.cidr, a.scope, a.flags.join(',') || '-']);
  const head = ['DEV', 'FAMILY', 'ADDRESS', 'SCOPE', 'FLAGS'];
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** ADDR or ADDR/LEN as CIDR text: a bare address is a host address (/32, /128). */
export function hostCidr(s: string, field = 'ADDR'): string {
  const c = parseCidr(s, field, { allowBare: true });
  return s.includes('/') ? s : `${s}/${c.prefixLen}`;
}

/** Entry point: `macdemux addr ...`; `globals` are the options given before "addr". */
export async function run(argv: string[], globals?: GlobalOptions): Promise<number> {
  const { opts: g, rest } = extractOptions(argv, HINT, globals && { ...globals });
  if (g.help) {
    process.stdout.write(ADDR_USAGE);
    return 0;
  }
  const [sub, ...args] = rest;
  const isShow = sub === undefined || sub === 'show' || sub === 'list' || sub === 'ls';
  const o = g.netns !== undefined ? { netns: g.netns } : {};
  const w = new Words(args);
  let dev: string | undefined;
  let cidr: string | undefined;
  let nodad = false;
  let noPrefixRoute = false;
  let scope: 'global' | 'link' | 'host' | undefined;
  while (!w.done) {
    const k = w.next('argument');
    if (k === 'dev') dev = w.next('dev');
    else if (k === 'local') cidr = w.next('local');
    else if (k === 'nodad') nodad = true;
    else if (k === 'noprefixroute') noPrefixRoute = true;
    else if (k === 'scope') {
      const s = w.next('scope');
      if (s !== 'global' && s !== 'link' && s !== 'host') throw new InvalidArgumentError('scope', 'global, link or host', s);
      scope = s;
    } else if (cidr === undefined && !isShow) cidr = k;
    else if (dev === undefined && isShow) dev = k;
    else throw new UsageError(`${sub}: unknown word "${k}"`, HINT);
  }
  switch (sub) {
    case 'add':
    case 'del':
    case 'delete': {
      if (cidr === undefined) throw new UsageError(`${sub}: missing ADDR (like 10.0.0.1/24)`, HINT);
      if (dev === undefined) throw new UsageError(`${sub}: missing "dev NAME"`, HINT);
      const full = hostCidr(cidr);
      if (sub === 'add') {
        await addAddress(dev, full, { ...o, ...(nodad ? { nodad } : {}), ...(noPrefixRoute ? { noPrefixRoute } : {}), ...(scope ? { scope } : {}) });
      } else {
        await deleteAddress(dev, full, o);
      }
      return 0;
    }
    case undefined:
    case 'show':
    case 'list':
    case 'ls': {
      const list = await listAddresses(dev, { ...o, ...(g.family ? { family: g.family } : {}) });
      if (g.json) {
        const links = await listLinks(o);
        const byIndex = new Map(links.map((l) => [l.ifindex, l]));
        // With -4/-6, ip leaves out the links that have no address of that family.
        const shown = links.filter((l) => (dev === undefined || l.name === dev) && (!g.family || list.some((a) => a.ifindex === l.ifindex)));
        process.stdout.write(jsonText(addressesToIpJson(shown, list, byIndex), g));
      } else {
        process.stdout.write(formatAddrTable(list));
      }
      return 0;
    }
    case 'help':
      process.stdout.write(ADDR_USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${sub}"`, HINT);
  }
}
