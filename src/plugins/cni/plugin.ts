/**
 * The CNI commands of `macdemux-cni`: ADD creates a macvlan on `master` directly inside the
 * container's namespace, delegates addresses to the IPAM plugin and configures them; DEL releases
 * the address first and succeeds when the master, the interface or the namespace is already gone;
 * CHECK compares the interface with prevResult; STATUS and GC (CNI 1.1) check the master and clean
 * up attachments the runtime no longer has. Devices are found over rtnetlink, never /sys/class/net:
 * the plugin runs in the runtime's namespace, where /sys may belong to another one.
 */
import { existsSync } from 'node:fs';
import { MacdemuxSystemError } from '../../errors.ts';
import { addAddress, addRoute, createMacvlan, deleteLink, findLink, listAddresses, setLink } from '../../devices/index.ts';
import { normalizeMac } from '../../net/index.ts';
import { listAttachments, removeAttachment, saveAttachment } from './attachments.ts';
import { versionAtLeast, type CniEnv, type CniResult, type NetConf } from './config.ts';
import { CNI_ERR, CniError } from './errors.ts';
import { delegate, findPlugin } from './ipam.ts';

/** The userspace path (control API client: node:http), loaded only by userspace networks so a kernel ADD does not pay for it. */
const userspace = () => import('./userspace.ts');

const isCode = (err: unknown, ...codes: string[]) => err instanceof MacdemuxSystemError && codes.includes(err.code);

function requireMaster(conf: NetConf): NonNullable<NetConf['master']> {
  if (!conf.master) throw new CniError(CNI_ERR.INVALID_CONFIG, '"master" is required (the parent device, e.g. "eth0")');
  if (conf.vlan !== undefined)
    throw new CniError(CNI_ERR.INVALID_CONFIG, `VLAN ${conf.vlan} needs "dataplane": "userspace" (this kernel has no 802.1Q: macdemuxd tags in userspace)`);
  return conf.master;
}

/** ADD on macdemuxd's engine: addresses from IPAM first, then the port with them (src/plugins/cni/userspace.ts). */
async function addUserspace(conf: NetConf, env: CniEnv, stdin: string): Promise<CniResult> {
  if (!existsSync(env.netns)) throw new CniError(CNI_ERR.UNKNOWN_CONTAINER, `network namespace ${env.netns} does not exist`);
  const { attachPort, checkNetwork, detachPort } = await userspace();
  await checkNetwork(conf);
  let ipam: CniResult | undefined;
  if (conf.ipam) {
    ipam = delegate('ADD', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
    if (!ipam?.ips?.length) throw new CniError(CNI_ERR.INTERNAL, `ipam ${conf.ipam.type} returned no IP configuration`);
  }
  let attached = false;
  try {
    const mac = await attachPort(conf, env, wantedMac(conf, env), (ipam?.ips ?? []).map((ip) => ip.address));
    attached = true;
    const ns = { netns: env.netns };
    for (const r of ipam?.routes ?? []) {
      const v6 = r.dst.includes(':');
      const gw = r.gw ?? ipam?.ips?.find((i) => i.gateway && i.gateway.includes(':') === v6)?.gateway;
      await addRoute({ dst: r.dst, dev: env.ifname, ...(gw ? { via: gw } : {}) }, ns);
    }
    saveAttachment(conf.dataDir, conf.name, { containerId: env.containerId, ifname: env.ifname, netns: env.netns, master: conf.daemonNetwork, mac });
    return {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: env.ifname, mac, sandbox: env.netns }],
      ips: (ipam?.ips ?? []).map((ip) => ({ ...ip, interface: 0 })),
      routes: ipam?.routes ?? [],
      dns: ipam?.dns ?? {},
    };
  } catch (err) {
    if (attached) await detachPort(conf, env.containerId, env.ifname).catch(() => {});
    if (conf.ipam) {
      try {
        delegate('DEL', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
      } catch {
        /* the ADD error is the one to report */
      }
    }
    throw systemToCni(err, 'configure interface');
  }
}

function systemToCni(err: unknown, what: string): CniError {
  if (err instanceof CniError) return err;
  return new CniError(CNI_ERR.INTERNAL, `${what}: ${(err as Error).message}`);
}

/** The MAC the runtime asked for: runtimeConfig.mac (capability "mac") or CNI_ARGS MAC=. */
function wantedMac(conf: NetConf, env: CniEnv): string | undefined {
  if (conf.runtimeMac) return conf.runtimeMac;
  if (env.args.MAC) {
    try {
      return normalizeMac(env.args.MAC, 'CNI_ARGS MAC');
    } catch (err) {
      throw new CniError(CNI_ERR.INVALID_ENV, (err as Error).message);
    }
  }
  return undefined;
}

/** ADD: the macvlan in the container, addresses from IPAM, the result. */
export async function cmdAdd(conf: NetConf, env: CniEnv, stdin: string): Promise<CniResult> {
  if (conf.dataplane === 'userspace') return addUserspace(conf, env, stdin);
  const master = requireMaster(conf);
  if (!existsSync(env.netns)) throw new CniError(CNI_ERR.UNKNOWN_CONTAINER, `network namespace ${env.netns} does not exist`);
  const masterNs = conf.linkInContainer ? { netns: env.netns } : {};
  const lower = await findLink(master.dev, masterNs);
  if (!lower) throw new CniError(CNI_ERR.INVALID_CONFIG, `master "${master.dev}" does not exist${conf.linkInContainer ? ' in the container' : ''}`);
  const mac = wantedMac(conf, env);
  const link = await createMacvlan(
    {
      name: env.ifname,
      parent: master.dev,
      mode: conf.mode,
      ...(mac ? { mac } : {}),
      ...(conf.mtu ? { mtu: conf.mtu } : {}),
      ...(conf.linkInContainer ? {} : { targetNetns: env.netns }),
    },
    masterNs,
  ).catch((err: unknown) => {
    if (isCode(err, 'EEXIST')) throw new CniError(CNI_ERR.INTERNAL, `interface "${env.ifname}" already exists in ${env.netns}`);
    throw systemToCni(err, 'create macvlan');
  });
  let ipamRan = false;
  try {
    let ipam: CniResult | undefined;
    if (conf.ipam) {
      ipam = delegate('ADD', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
      ipamRan = true;
      if (!ipam?.ips?.length) throw new CniError(CNI_ERR.INTERNAL, `ipam ${conf.ipam.type} returned no IP configuration`);
    }
    const ns = { netns: env.netns };
    for (const ip of ipam?.ips ?? []) await addAddress(env.ifname, ip.address, ns);
    await setLink(env.ifname, { up: true }, ns);
    for (const r of ipam?.routes ?? []) {
      const v6 = r.dst.includes(':');
      const gw = r.gw ?? ipam?.ips?.find((i) => i.gateway && i.gateway.includes(':') === v6)?.gateway;
      await addRoute({ dst: r.dst, dev: env.ifname, ...(gw ? { via: gw } : {}) }, ns);
    }
    saveAttachment(conf.dataDir, conf.name, { containerId: env.containerId, ifname: env.ifname, netns: env.netns, master: master.dev, mac: link.mac! });
    const result: CniResult = {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: env.ifname, mac: link.mac!, sandbox: env.netns }],
      ips: (ipam?.ips ?? []).map((ip) => ({ ...ip, interface: 0 })),
      routes: ipam?.routes ?? [],
      dns: ipam?.dns ?? {},
    };
    return result;
  } catch (err) {
    await deleteLink(env.ifname, { netns: env.netns }).catch(() => {});
    if (ipamRan && conf.ipam) {
      try {
        delegate('DEL', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
      } catch {
        /* the ADD error is the one to report */
      }
    }
    throw systemToCni(err, 'configure interface');
  }
}

/** DEL: release the address, remove the interface if it is still there; idempotent. */
export async function cmdDel(conf: NetConf, env: CniEnv, stdin: string): Promise<void> {
  if (conf.ipam) delegate('DEL', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
  if (conf.dataplane === 'userspace') {
    // The daemon owns the port (it persists it): remove it there, whether or not the netns is left.
    await (await userspace()).detachPort(conf, env.containerId, env.ifname);
  } else if (env.netns && existsSync(env.netns)) {
    try {
      await deleteLink(env.ifname, { netns: env.netns });
    } catch (err) {
      // Gone already (ENODEV), or a namespace file that no longer holds a namespace (EINVAL on setns).
      if (!isCode(err, 'ENODEV', 'EINVAL', 'ENOENT')) throw systemToCni(err, `delete ${env.ifname}`);
    }
  }
  removeAttachment(conf.dataDir, conf.name, env.containerId, env.ifname);
}

/** CHECK: the interface is there, a macvlan with the MAC and the addresses of prevResult. */
export async function cmdCheck(conf: NetConf, env: CniEnv, stdin: string): Promise<void> {
  if (conf.dataplane === 'userspace') {
    const { endpointName, findPort } = await userspace();
    const port = await findPort(conf, env);
    if (!port) throw new CniError(CNI_ERR.INTERNAL, `macdemuxd has no port for ${env.containerId}/${env.ifname} (endpoint ${endpointName(conf, env.containerId, env.ifname)})`);
    if (port.netns !== env.netns) throw new CniError(CNI_ERR.INTERNAL, `macdemuxd's port ${String(port.name)} is in ${String(port.netns)}, not ${env.netns}`);
    if (conf.ipam) delegate('CHECK', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
    return;
  }
  requireMaster(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'CHECK needs prevResult');
  if (!existsSync(env.netns)) throw new CniError(CNI_ERR.UNKNOWN_CONTAINER, `network namespace ${env.netns} does not exist`);
  if (conf.ipam) delegate('CHECK', conf.ipam.type, env.path, ipamStdin(conf, env, stdin), process.env);
  const ns = { netns: env.netns };
  const link = await findLink(env.ifname, ns);
  if (!link) throw new CniError(CNI_ERR.INTERNAL, `interface ${env.ifname} not found in ${env.netns}`);
  if (link.kind !== 'macvlan') throw new CniError(CNI_ERR.INTERNAL, `interface ${env.ifname} is a ${link.kind ?? 'device without kind'}, not a macvlan`);
  if (link.macvlan && link.macvlan.mode !== conf.mode) throw new CniError(CNI_ERR.INTERNAL, `interface ${env.ifname} is in mode ${link.macvlan.mode}, config says ${conf.mode}`);
  const idx = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifname && (!i.sandbox || i.sandbox === env.netns));
  if (idx < 0) throw new CniError(CNI_ERR.INTERNAL, `prevResult has no interface ${env.ifname} in ${env.netns}`);
  const want = prev.interfaces![idx]!;
  if (want.mac && normalizeMac(want.mac, 'prevResult mac') !== link.mac) throw new CniError(CNI_ERR.INTERNAL, `interface ${env.ifname} has MAC ${link.mac}, prevResult says ${want.mac}`);
  const have = new Set((await listAddresses(env.ifname, ns)).map((a) => a.cidr));
  for (const ip of prev.ips ?? []) {
    if ((ip.interface === undefined || ip.interface === idx) && !have.has(ip.address))
      throw new CniError(CNI_ERR.INTERNAL, `interface ${env.ifname} lacks address ${ip.address}`);
  }
}

/** Whether the IPAM plugin speaks CNI 1.1 (STATUS and GC go to it only then). */
function ipamSpeaks11(conf: NetConf, env: CniEnv): boolean {
  if (!conf.ipam) return false;
  const r = delegate('VERSION', conf.ipam.type, env.path, JSON.stringify({ cniVersion: conf.cniVersion }), process.env) as unknown as { supportedVersions?: string[] };
  return r?.supportedVersions?.includes('1.1.0') ?? false;
}

/**
 * The stdin for the IPAM plugin: the config as given, except that a 1.1.0 config goes to an IPAM
 * plugin that speaks only up to 1.0.0 (Debian's host-local, static, dhcp) as 1.0.0, the same result
 * format; otherwise every call of a 1.1.0 network would fail in IPAM with "incompatible versions".
 */
function ipamStdin(conf: NetConf, env: CniEnv, stdin: string): string {
  if (!conf.ipam || conf.cniVersion !== '1.1.0' || ipamSpeaks11(conf, env)) return stdin;
  return JSON.stringify({ ...JSON.parse(stdin), cniVersion: '1.0.0' });
}

/** STATUS (1.1): ready when the master exists (and the IPAM plugin is ready). */
export async function cmdStatus(conf: NetConf, env: CniEnv, stdin: string): Promise<void> {
  if (!versionAtLeast(conf.cniVersion, '1.1.0')) throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `STATUS needs cniVersion 1.1.0, config has ${conf.cniVersion}`);
  if (conf.dataplane === 'userspace') await (await userspace()).checkNetwork(conf).catch((err: CniError) => {
    throw new CniError(CNI_ERR.PLUGIN_NOT_AVAILABLE, err.message);
  });
  else if (!conf.linkInContainer && !(await findLink(requireMaster(conf).dev))) throw new CniError(CNI_ERR.PLUGIN_NOT_AVAILABLE, `master "${conf.master!.dev}" does not exist`);
  if (conf.ipam) findPlugin(conf.ipam.type, env.path);
  if (ipamSpeaks11(conf, env)) delegate('STATUS', conf.ipam!.type, env.path, stdin, process.env);
}

/**
 * GC (1.1): every attachment this plugin recorded that is not in `cni.dev/valid-attachments` is
 * deleted as DEL would (address released, interface removed if its namespace still exists).
 */
export async function cmdGc(conf: NetConf, env: CniEnv, stdin: string): Promise<{ removed: string[] }> {
  if (!versionAtLeast(conf.cniVersion, '1.1.0')) throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `GC needs cniVersion 1.1.0, config has ${conf.cniVersion}`);
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  const removed: string[] = [];
  for (const a of listAttachments(conf.dataDir, conf.name)) {
    if (valid.has(`${a.containerId}\0${a.ifname}`)) continue;
    const delEnv: CniEnv = { ...env, command: 'DEL', containerId: a.containerId, ifname: a.ifname, netns: a.netns };
    const saved = { ...process.env };
    Object.assign(process.env, { CNI_COMMAND: 'DEL', CNI_CONTAINERID: a.containerId, CNI_IFNAME: a.ifname, CNI_NETNS: a.netns });
    try {
      await cmdDel(conf, delEnv, stdin);
    } finally {
      for (const k of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    removed.push(`${a.containerId}/${a.ifname}`);
  }
  if (ipamSpeaks11(conf, env)) delegate('GC', conf.ipam!.type, env.path, stdin, process.env);
  return { removed };
}
