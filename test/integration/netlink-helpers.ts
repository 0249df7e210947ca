/** Helpers for the rtnetlink integration tests: `ip -j` as an independent oracle. */
import type { Namespace } from '../../src/lab/index.ts';

/** The subset of `ip -d -j link show` we compare against. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  master?: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address: string;
  promiscuity: number;
  linkinfo?: {
    info_kind?: string;
    info_slave_kind?: string;
    info_data?: {
      mode?: string;
      flags?: string[];
      nopromisc?: boolean;
      nodst?: boolean;
      bcqueuelen?: number;
      usedbcqueuelen?: number;
      macaddr_count?: number;
      macaddr_data?: string[];
    };
    info_slave_data?: { hairpin?: boolean; learning?: boolean };
  };
}

/** `ip -d -j link show dev NAME` in the namespace. */
export async function ipLink(ns: Namespace, name: string): Promise<IpLink> {
  const out = JSON.parse(await ns.ip(['-d', '-j', 'link', 'show', 'dev', name])) as IpLink[];
  if (out.length !== 1) throw new Error(`ip link show ${name}: ${out.length} entries`);
  return out[0];
}

/** Whether `ip link show dev NAME` finds the device in the namespace. */
export async function ipLinkExists(ns: Namespace, name: string): Promise<boolean> {
  const r = await ns.exec('ip', ['link', 'show', 'dev', name]);
  return r.code === 0;
}

/** `ip -j addr show [dev NAME]`, flattened to "addr/len" strings per family. */
export async function ipAddrs(ns: Namespace, name: string): Promise<string[]> {
  const out = JSON.parse(await ns.ip(['-j', 'addr', 'show', 'dev', name])) as { addr_info: { local: string; prefixlen: number }[] }[];
  return out.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).sort();
}

/** `ip -j route show` (main table, IPv4) as `dst dev [via]` strings. */
export async function ipRoutes(ns: Namespace, family: '-4' | '-6' = '-4'): Promise<string[]> {
  const out = JSON.parse(await ns.ip([family, '-j', 'route', 'show'])) as { dst: string; dev?: string; gateway?: string }[];
  return out.map((r) => [r.dst, r.dev ?? '-', r.gateway ?? '-'].join(' ')).sort();
}
