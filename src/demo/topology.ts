/**
 * The demo's lab: a generator namespace, a switch namespace and N endpoint namespaces.
 *
 *   gen: g0 ──veth── up0 (sw)      p1 ──veth── eth0 (ep1)
 *                        switch    p2 ──veth── eth0 (ep2)   ...
 *
 * IPv6 off (no ND/MLD noise in the counters), Linux's default veth offloads, fixed MACs.
 */
import type { Lab, Namespace } from '../lab/index.ts';

export const DEMO_GEN_MAC = '02:6d:64:0d:00:01';
const hex = (n: number): string => n.toString(16).padStart(2, '0');

/** MAC of endpoint i (1-based). */
export function endpointMac(i: number): string {
  return `02:6d:64:0e:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`;
}

export interface DemoEndpoint {
  ns: Namespace;
  /** Interface in the endpoint namespace. */
  ifname: string;
  mac: string;
  ip: string;
  /** Switch-side peer in the switch namespace. */
  port: string;
}

export interface DemoLab {
  gen: { ns: Namespace; ifname: string; mac: string; ip: string };
  sw: Namespace;
  uplink: string;
  endpoints: DemoEndpoint[];
}

async function quiet(ns: Namespace): Promise<void> {
  await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** Build the demo topology with `n` endpoints in `lab`. */
export async function buildDemoLab(lab: Lab, n: number): Promise<DemoLab> {
  const gen = await lab.addNamespace('gen');
  const sw = await lab.addNamespace('sw');
  await quiet(gen);
  await quiet(sw);
  await lab.addVeth({ ns: gen, name: 'g0', mac: DEMO_GEN_MAC, addresses: ['10.98.0.1/16'] }, { ns: sw, name: 'up0' });
  const endpoints: DemoEndpoint[] = [];
  for (let i = 1; i <= n; i++) {
    const ns = await lab.addNamespace(`ep${i}`);
    await quiet(ns);
    const mac = endpointMac(i);
    const ip = `10.98.1.${i}`;
    await lab.addVeth({ ns, name: 'eth0', mac, addresses: [`${ip}/16`] }, { ns: sw, name: `p${i}` });
    endpoints.push({ ns, ifname: 'eth0', mac, ip, port: `p${i}` });
  }
  return { gen: { ns: gen, ifname: 'g0', mac: DEMO_GEN_MAC, ip: '10.98.0.1' }, sw, uplink: 'up0', endpoints };
}
