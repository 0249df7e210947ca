/**
 * The network configuration of type `macdemux-cni` (stdin of every call), with the keys of the
 * reference macvlan plugin (`master`, `mode`, `mtu`, `linkInContainer`, `ipam`) plus `vlan` and
 * `dataplane`, and the runtime's environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
 * CNI_ARGS, CNI_PATH).
 */
import { MACVLAN_MODES, type MacvlanMode } from '../../net/index.ts';
import { normalizeMac, validateIfname } from '../../net/index.ts';
import { parseParent, type ParentSpec } from '../../net/index.ts';
import { CNI_ERR, CniError } from './errors.ts';

/** Versions this plugin speaks (1.1.0 adds STATUS and GC). */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  master?: ParentSpec;
  /** VLAN id of the pods' ports (userspace only: this kernel has no 802.1Q). */
  vlan?: number;
  mode: MacvlanMode;
  mtu?: number;
  linkInContainer: boolean;
  dataplane: 'kernel' | 'userspace';
  /** The `ipam` object as given (handed to the IPAM plugin with the whole config). */
  ipam?: { type: string } & Record<string, unknown>;
  prevResult?: CniResult;
  /** Runtime-supplied MAC (capability "mac"). */
  runtimeMac?: string;
  /** Userspace: macdemuxd's control socket (default /var/lib/macdemux/macdemuxd.sock). */
  socket: string;
  /** Userspace: the macdemuxd network the pods join (default: `name`). */
  daemonNetwork: string;
  /** Where per-attachment records live (default /var/lib/cni/macdemux). */
  dataDir: string;
  /** GC: the attachments the runtime still has. */
  validAttachments?: { containerID: string; ifname: string }[];
}

/** A CNI result (1.0 shape). */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

function bad(msg: string): CniError {
  return new CniError(CNI_ERR.INVALID_CONFIG, msg);
}

/** Compare dotted versions (0.3.1 < 1.0.0). */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** Parse and validate stdin (VERSION does not come here: it reads only cniVersion). */
export function parseNetConf(text: string): NetConf {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(CNI_ERR.DECODE_FAILURE, `network configuration is not JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CniError(CNI_ERR.DECODE_FAILURE, 'network configuration must be a JSON object');
  const cniVersion = raw.cniVersion;
  if (typeof cniVersion !== 'string' || !SUPPORTED_VERSIONS.includes(cniVersion))
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `cniVersion ${JSON.stringify(cniVersion)} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  const name = typeof raw.name === 'string' ? raw.name : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw bad(`"name" must be a network name, got ${JSON.stringify(raw.name)}`);
  const modes = MACVLAN_MODES.filter((m) => m !== 'source');
  const mode = (raw.mode ?? 'bridge') as MacvlanMode;
  if (!(modes as readonly string[]).includes(mode)) throw bad(`"mode" must be one of ${modes.join(', ')}, got ${JSON.stringify(raw.mode)}`);
  let mtu: number | undefined;
  if (raw.mtu !== undefined && raw.mtu !== 0) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 68 || raw.mtu > 65535) throw bad(`"mtu" must be 68..65535, got ${JSON.stringify(raw.mtu)}`);
    mtu = raw.mtu;
  }
  if (raw.linkInContainer !== undefined && typeof raw.linkInContainer !== 'boolean') throw bad('"linkInContainer" must be a boolean');
  let master: ParentSpec | undefined;
  let vlan: number | undefined;
  try {
    if (raw.master !== undefined && raw.master !== '') master = parseParent(raw.master, 'master', raw.vlan);
    else if (raw.vlan !== undefined && raw.dataplane !== 'userspace') throw bad('"vlan" needs "master" (or "dataplane": "userspace", where the macdemuxd network names the uplink)');
    else if (raw.vlan !== undefined) vlan = parseParent(`x.${String(raw.vlan)}`, 'vlan').vlan;
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw bad((err as Error).message);
  }
  vlan ??= master?.vlan;
  const dataplane = raw.dataplane ?? (master?.vlan !== undefined ? 'userspace' : 'kernel');
  if (dataplane !== 'kernel' && dataplane !== 'userspace') throw bad(`"dataplane" must be "kernel" or "userspace", got ${JSON.stringify(raw.dataplane)}`);
  let ipam: NetConf['ipam'];
  if (raw.ipam !== undefined && raw.ipam !== null) {
    const i = raw.ipam as Record<string, unknown>;
    if (typeof i !== 'object' || (Object.keys(i).length && typeof i.type !== 'string')) throw bad('"ipam" must be an object with "type"');
    if (typeof i.type === 'string') ipam = i as NetConf['ipam'];
  }
  const rc = (raw.runtimeConfig ?? {}) as Record<string, unknown>;
  let runtimeMac: string | undefined;
  if (typeof rc.mac === 'string' && rc.mac) {
    try {
      runtimeMac = normalizeMac(rc.mac, 'runtimeConfig.mac');
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  if (raw.socket !== undefined && (typeof raw.socket !== 'string' || !raw.socket.startsWith('/'))) throw bad(`"socket" must be an absolute path, got ${JSON.stringify(raw.socket)}`);
  if (raw.network !== undefined && (typeof raw.network !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw.network)))
    throw bad(`"network" must be a macdemuxd network name, got ${JSON.stringify(raw.network)}`);
  const dataDir = typeof raw.dataDir === 'string' && raw.dataDir.startsWith('/') ? raw.dataDir : '/var/lib/cni/macdemux';
  const conf: NetConf = {
    cniVersion,
    name,
    type: String(raw.type ?? ''),
    mode,
    linkInContainer: raw.linkInContainer === true,
    dataplane,
    dataDir,
    socket: (raw.socket as string | undefined) ?? '/var/lib/macdemux/macdemuxd.sock',
    daemonNetwork: (raw.network as string | undefined) ?? name,
    ...(master ? { master } : {}),
    ...(vlan !== undefined ? { vlan } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(ipam ? { ipam } : {}),
    ...(runtimeMac ? { runtimeMac } : {}),
  };
  if (raw.prevResult !== undefined) conf.prevResult = raw.prevResult as CniResult;
  const va = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (Array.isArray(va)) conf.validAttachments = va as NetConf['validAttachments'];
  return conf;
}

/** The runtime's environment of one call. */
export interface CniEnv {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string[];
}

/** Read and check the CNI_* variables the command needs (error code 4 names the missing one). */
export function readEnv(env: NodeJS.ProcessEnv, command: string): CniEnv {
  const need = (k: string): string => {
    const v = env[k];
    if (!v) throw new CniError(CNI_ERR.INVALID_ENV, `${k} is required for ${command}`);
    return v;
  };
  const perAttachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const containerId = perAttachment ? need('CNI_CONTAINERID') : (env.CNI_CONTAINERID ?? '');
  const ifname = perAttachment ? need('CNI_IFNAME') : (env.CNI_IFNAME ?? '');
  if (ifname) {
    try {
      validateIfname(ifname, 'CNI_IFNAME');
    } catch (err) {
      throw new CniError(CNI_ERR.INVALID_ENV, (err as Error).message);
    }
  }
  // On DEL the netns may be empty (containerd) or already gone; ADD and CHECK need it.
  const netns = command === 'ADD' || command === 'CHECK' ? need('CNI_NETNS') : (env.CNI_NETNS ?? '');
  const args: Record<string, string> = {};
  for (const kv of (env.CNI_ARGS ?? '').split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) args[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const path = (env.CNI_PATH ?? '').split(':').filter(Boolean);
  if ((command === 'ADD' || command === 'DEL' || command === 'CHECK' || command === 'GC' || command === 'STATUS') && !path.length)
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_PATH is required for ${command}`);
  return { command, containerId, netns, ifname, args, path };
}
