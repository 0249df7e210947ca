/**
 * `macdemux addr ...`: IPv4/IPv6 addresses over rtnetlink, iproute2 words.
 *
 *   macdemux [-n NS] addr add CIDR dev NAME [nodad] [noprefixroute] [scope global|link|host]
 *   macdemux [-n NS] addr del CIDR dev NAME
 *   macdemux [-n NS] addr show [dev NAME] [-4|-6] [--json]
 */
import { addAddress, deleteAddress, listAddresses, type AddressInfo } from '../devices/index.ts';
import { InvalidArgumentError } from '../errors.ts';
import { Words, splitGlobals } from './link.ts';

export const ADDR_USAGE = `usage: macdemux [-n NETNS] addr <command>
  addr add CIDR dev NAME [nodad] [noprefixroute] [scope global|link|host]
  addr del CIDR dev NAME
  addr show [dev NAME] [-4|-6] [--json|-j]
`;

function formatAddrTable(list: AddressInfo[]): string {
  const rows = list.map((a) => [a.ifname ?? `if${a.ifindex}`, a.family, a.cidr, a.scope, a.flags.join(',') || '-']);
  const head = ['DEV', 'FAMILY', 'ADDRESS', 'SCOPE', 'FLAGS'];
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** Entry point: `macdemux addr ...`. */
export async function run(argv: string[]): Promise<number> {
  const { netns, json, rest } = splitGlobals(argv);
  const [sub, ...args] = rest;
  const o = netns !== undefined ? { netns } : {};
  const w = new Words(args);
  let dev: string | undefined;
  let cidr: string | undefined;
  let family: 'inet' | 'inet6' | undefined;
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
    } else if (k === '-4') family = 'inet';
    else if (k === '-6') family = 'inet6';
    else if (cidr === undefined && sub !== 'show' && sub !== 'list' && sub !== 'ls') cidr = k;
    else if (dev === undefined && (sub === 'show' || sub === 'list' || sub === 'ls')) dev = k;
    else throw new InvalidArgumentError(`addr ${sub}`, 'a known keyword (see "macdemux addr help")', k);
  }
  switch (sub) {
    case 'add':
    case 'del':
    case 'delete': {
      if (cidr === undefined) throw new InvalidArgumentError('CIDR', 'an address like 10.0.0.1/24', undefined);
      if (dev === undefined) throw new InvalidArgumentError('dev', 'a device name', undefined);
      if (sub === 'add') {
        await addAddress(dev, cidr, { ...o, ...(nodad ? { nodad } : {}), ...(noPrefixRoute ? { noPrefixRoute } : {}), ...(scope ? { scope } : {}) });
      } else {
        await deleteAddress(dev, cidr, o);
      }
      return 0;
    }
    case undefined:
    case 'show':
    case 'list':
    case 'ls': {
      const list = await listAddresses(dev, { ...o, ...(family ? { family } : {}) });
      process.stdout.write(json ? `${JSON.stringify(list)}\n` : formatAddrTable(list));
      return 0;
    }
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(ADDR_USAGE);
      return 0;
    default:
      process.stderr.write(`macdemux addr: unknown command "${sub}"\n${ADDR_USAGE}`);
      return 2;
  }
}
