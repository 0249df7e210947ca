/**
 * `dataplane: "userspace"` (and any `vlan`): the pod's interface is a port of macdemuxd's engine on
 * the node. ADD asks the daemon's control API (unix socket) for an endpoint on the daemon network,
 * with the netns as the runtime's path, CNI_IFNAME, the MAC and the VLAN, and hands it the addresses
 * the delegated IPAM plugin returned (the daemon configures them and keeps them; it takes no lease
 * of its own). The daemon persists the endpoint (api-endpoints.json), so it survives a restart. DEL
 * removes the endpoint (404: already gone is success); CHECK asks for the port.
 */
import { createHash } from 'node:crypto';
import { apiRequest } from '../../service/control-client.ts';
import type { CniEnv, NetConf } from './config.ts';
import { CNI_ERR, CniError } from './errors.ts';

/** The daemon endpoint name of one attachment (stable, so DEL and GC find it again). */
export function endpointName(conf: NetConf, containerId: string, ifname: string): string {
  return `cni-${createHash('sha256').update(`${conf.name}\0${containerId}\0${ifname}`).digest('hex').slice(0, 24)}`;
}

function daemonError(what: string, r: { status: number; body: unknown }): CniError {
  const e = (r.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new CniError(r.status === 404 && e?.code === 'no_such_network' ? CNI_ERR.INVALID_CONFIG : CNI_ERR.INTERNAL, `macdemuxd ${what}: ${e?.message ?? `HTTP ${r.status}`}`);
}

async function call(conf: NetConf, method: string, path: string, body?: unknown) {
  try {
    return await apiRequest(conf.socket, method, path, body);
  } catch (err) {
    throw new CniError(CNI_ERR.TRY_AGAIN_LATER, `macdemuxd is not reachable: ${(err as Error).message}`);
  }
}

/** Create the port; resolves to its MAC. */
export async function attachPort(conf: NetConf, env: CniEnv, mac: string | undefined, addresses: string[]): Promise<string> {
  const body = {
    network: conf.daemonNetwork,
    name: endpointName(conf, env.containerId, env.ifname),
    netns: env.netns,
    ifname: env.ifname,
    ...(mac ? { mac } : {}),
    ...(conf.vlan !== undefined ? { vlan: conf.vlan } : {}),
    ...(addresses.length ? { addresses } : {}),
  };
  const r = await call(conf, 'POST', '/endpoints', body);
  if (r.status >= 300) throw daemonError('refused the port', r);
  const port = r.body as { mac?: string; parent?: string };
  return port.mac ?? '';
}

/** Remove the port; already gone is success. */
export async function detachPort(conf: NetConf, containerId: string, ifname: string): Promise<void> {
  const r = await call(conf, 'DELETE', `/endpoints/${endpointName(conf, containerId, ifname)}`);
  if (r.status >= 300 && r.status !== 404) throw daemonError('did not remove the port', r);
}

/** The port of an attachment, as the daemon reports it (undefined when it has none). */
export async function findPort(conf: NetConf, env: CniEnv): Promise<Record<string, unknown> | undefined> {
  const r = await call(conf, 'GET', '/ports');
  if (r.status >= 300) throw daemonError('did not list ports', r);
  const name = endpointName(conf, env.containerId, env.ifname);
  return (r.body as Record<string, unknown>[]).find((p) => p.name === name);
}

/** The daemon network, checked against `master` when given (STATUS, ADD). */
export async function checkNetwork(conf: NetConf): Promise<void> {
  const r = await call(conf, 'GET', '/networks');
  if (r.status >= 300) throw daemonError('did not list networks', r);
  const net = (r.body as { name: string; parent: string; dataplane: string }[]).find((n) => n.name === conf.daemonNetwork);
  if (!net) throw new CniError(CNI_ERR.INVALID_CONFIG, `macdemuxd has no network "${conf.daemonNetwork}" (set "network" to one of its networks)`);
  if (net.dataplane !== 'userspace') throw new CniError(CNI_ERR.INVALID_CONFIG, `macdemuxd network "${conf.daemonNetwork}" is dataplane ${net.dataplane}, not userspace`);
  if (conf.master && net.parent.split(':').pop() !== conf.master.dev)
    throw new CniError(CNI_ERR.INVALID_CONFIG, `"master" is ${conf.master.dev}, but macdemuxd network "${conf.daemonNetwork}" runs on ${net.parent}`);
}
