/**
 * What the control API's routes do (src/service/control-api.ts is the HTTP side): views of the
 * running state, and changes (endpoints, port modes, reload) handed to the daemon as new desired
 * states. A change answers 2xx only once the kernel and the engine applied it; otherwise it
 * answers 4xx/5xx with the reasons and nothing of it is kept (see Daemon.transition).
 */
import { findLink } from '../devices/index.ts';
import { qemuTapArgs } from '../devices/vm-tap.ts';
import { ConfigError, type MacvlanMode, MACVLAN_MODES, type NetworkConfig, ipamSummary, parentKey } from './config.ts';
import { ApiError, type ControlHandlers } from './control-api.ts';
import type { DesiredConfig } from './desired-config.ts';
import type { DesiredLink, DesiredState } from './desired.ts';
import { formatIp } from './ipaddr.ts';
import type { LeaseStore } from './leases.ts';
import type { CounterSnapshot } from './metrics.ts';
import { createNetwork, removeNetwork } from './network-handlers.ts';

/** The daemon as the handlers see it. */
export interface DaemonControl {
  readonly configPath: string;
  readonly stateDir: string;
  readonly socketPath: string;
  readonly metricsAddress: string | undefined;
  readonly startedAt: number;
  readonly leases: LeaseStore;
  /** The desired state that is applied now. */
  current(): DesiredConfig;
  /** Its kernel objects and switch ports. */
  desired(): DesiredState | undefined;
  /** The last apply (or refused change). */
  lastApply(): unknown;
  counters(): Promise<CounterSnapshot>;
  /**
   * Apply `build(current)` as the new desired state (serialized with every other change);
   * resolves once applied, rejects with an ApiError (and keeps the current state) otherwise.
   */
  transition(reason: string, build: (cur: DesiredConfig) => DesiredConfig): Promise<void>;
  /** Re-read the config file and apply it (same contract as transition). */
  reload(): Promise<ReloadResult>;
  /** The character device macdemux made for a tap / vm endpoint (kernel macvtap). */
  chardev?(endpoint: string): { path: string; major: number; minor: number; owner: number; group: number; mode: number } | undefined;
}

/** The answer to a reload. */
export interface ReloadResult {
  ok: boolean;
  config: string;
  added: string[];
  removed: string[];
  changed: string[];
  issues?: { path: string; reason: string }[];
  errors?: { resource: string; message: string }[];
}

const ENDPOINT_BODY_KEYS = ['network', 'name', 'netns', 'ifname', 'tap', 'vm', 'mac', 'ip', 'ipv6', 'addresses', 'vlan', 'source-macs'];

/** The name a desired link is addressed by in the API (`/ports/NAME`). */
export function portName(l: DesiredLink): string {
  return l.port?.name ?? l.endpoint ?? `${l.network}.shim`;
}

/** The API's view of one port. */
export function portView(d: DaemonControl, l: DesiredLink): Record<string, unknown> {
  const cur = d.current();
  const net = cur.config.networks.find((n) => n.name === l.network)!;
  const lease = l.endpoint ? d.leases.get(l.network, l.endpoint) : undefined;
  return {
    name: portName(l),
    network: l.network,
    role: l.role,
    dataplane: net.dataplane,
    parent: parentKey(net.parent),
    mode: l.port ? l.port.mode : (l.mode ?? null),
    mac: l.mac,
    ...(l.port?.vlan !== undefined ? { vlan: l.port.vlan } : {}),
    ...(l.netns ? { netns: l.netns } : {}),
    ifname: l.name,
    ...(l.port ? { switchIfname: l.port.ifname } : {}),
    ...(lease?.ipv4 ? { ipv4: lease.ipv4 } : {}),
    ...(lease?.ipv6 ? { ipv6: lease.ipv6 } : {}),
    addresses: l.addresses,
    ...chardevView(d, l),
    ...vmTapView(l),
    source: l.endpoint && cur.isApiEndpoint(l.endpoint) ? 'api' : 'config',
  };
}

/** `chardev` of a tap endpoint: the node macdemux made (never a /dev/tapN guess). */
function chardevView(d: DaemonControl, l: DesiredLink): Record<string, unknown> {
  const n = l.role === 'tap' && l.endpoint ? d.chardev?.(l.endpoint) : undefined;
  if (!n) return {};
  return { chardev: { path: n.path, dev: `${n.major}:${n.minor}`, owner: n.owner, group: n.group, mode: `0${n.mode.toString(8)}` } };
}

/**
 * `vm` of a userspace VM port: its persistent tap and the QEMU options that attach a guest to it
 * (vhost=off: QEMU's own tap I/O works everywhere; vhost=on where the host has vhost-net).
 */
export function vmTapView(l: DesiredLink): Record<string, unknown> {
  if (!l.vmTap) return {};
  const v = l.vmTap;
  return {
    vm: {
      tap: l.name,
      queues: v.queues,
      ...(v.owner !== undefined ? { owner: v.owner } : {}),
      ...(v.group !== undefined ? { group: v.group } : {}),
      qemu: qemuTapArgs(l.name, l.mac, v.queues, false).join(' '),
    },
  };
}

/**
 * The API's view of one network (`GET /networks`), also built from a state directory without a
 * daemon (`macdemux network ls --state-dir`): settings, and each endpoint with its lease.
 */
export function networkView(n: NetworkConfig, leases: Pick<LeaseStore, 'get'> | undefined, fromApi: boolean): Record<string, unknown> {
  return {
    name: n.name,
    parent: parentKey(n.parent),
    mode: n.mode,
    dataplane: n.dataplane,
    ...(n.vlan !== undefined ? { vlan: n.vlan } : {}),
    ...(n.ipv4 ? { ipv4: ipamSummary(n.ipv4) } : {}),
    ...(n.ipv6 ? { ipv6: ipamSummary(n.ipv6) } : {}),
    ...(n.hostShim
      ? { hostShim: { name: n.hostShim.name, ...Object.fromEntries(n.hostShim.ips.map((a) => [a.family === 4 ? 'ip' : 'ipv6', formatIp(a)])) } }
      : {}),
    endpoints: n.endpoints.map((e) => e.name),
    members: n.endpoints.map((e) => {
      const lease = leases?.get(n.name, e.name);
      return {
        name: e.name,
        ...(e.netns ? { netns: e.netns } : {}),
        ...(e.tap ? { tap: e.tap } : {}),
        ifname: e.ifname,
        ...(lease?.mac ?? e.mac ? { mac: lease?.mac ?? e.mac } : {}),
        ...(lease?.ipv4 ? { ipv4: lease.ipv4 } : {}),
        ...(lease?.ipv6 ? { ipv6: lease.ipv6 } : {}),
      };
    }),
    source: fromApi ? 'api' : 'config',
  };
}

function findPort(d: DaemonControl, name: string): DesiredLink | undefined {
  return d.desired()?.links.find((l) => portName(l) === name);
}

/** The route handlers of a daemon. */
export function controlHandlers(d: DaemonControl): ControlHandlers {
  return {
    status: async () => ({
      pid: process.pid,
      config: d.configPath,
      stateDir: d.stateDir,
      socket: d.socketPath,
      metrics: d.metricsAddress ?? null,
      uptimeS: Math.round((Date.now() - d.startedAt) / 1000),
      networks: d.current().config.networks.length,
      ports: d.desired()?.links.length ?? 0,
      lastApply: d.lastApply() ?? null,
    }),
    networks: async () => d.current().config.networks.map((n) => networkView(n, d.leases, d.current().isApiNetwork(n.name))),
    createNetwork: (body) =>
      createNetwork(d, body, async (name) => networkView(d.current().config.networks.find((n) => n.name === name)!, d.leases, true)),
    removeNetwork: (name) => removeNetwork(d, name),
    ports: async () =>
      Promise.all(
        (d.desired()?.links ?? []).map(async (l) => {
          const v = portView(d, l);
          // A kernel passthru port has the parent's MAC, not the lease's: report the device's own.
          if (l.inheritMac) v.mac = (await findLink(l.name, l.netns ? { netns: l.netns } : {}).catch(() => undefined))?.mac ?? v.mac;
          return v;
        }),
      ),
    counters: async () => d.counters(),
    addEndpoint: (body) => addEndpoint(d, body),
    deleteEndpoint: (name) => deleteEndpoint(d, name),
    patchPort: (name, body) => patchPort(d, name, body),
    reload: async () => {
      const r = await d.reload();
      if (r.ok) return r;
      if (r.issues) throw new ApiError(400, 'invalid_config', `reload refused, the running config is kept: ${r.issues.map((i) => `${i.path || '(document)'}: ${i.reason}`).join('; ')}`, r.issues);
      throw new ApiError(409, 'not_applied', `reload not applied, the running config is kept: ${(r.errors ?? []).map((e) => `${e.resource}: ${e.message}`).join('; ')}`, (r.errors ?? []).map((e) => ({ path: e.resource, reason: e.message })));
    },
  };
}

async function addEndpoint(d: DaemonControl, body: unknown): Promise<unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError(400, 'invalid_body', 'expected a JSON object like {"network": "net1", "name": "web3", "netns": "web3"}');
  const b = body as Record<string, unknown>;
  const issues: { path: string; reason: string }[] = [];
  for (const k of Object.keys(b)) if (!ENDPOINT_BODY_KEYS.includes(k)) issues.push({ path: k, reason: `unknown key (allowed: ${ENDPOINT_BODY_KEYS.join(', ')})` });
  if (typeof b.network !== 'string') issues.push({ path: 'network', reason: 'is required (the network to join)' });
  if (typeof b.name !== 'string') issues.push({ path: 'name', reason: 'is required (a unique endpoint name)' });
  if (issues.length) throw new ApiError(400, 'invalid_endpoint', `invalid endpoint: ${issues.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, issues);
  const { network, ...endpoint } = b as { network: string } & Record<string, unknown>;
  await d.transition(`api: add endpoint ${String(endpoint.name)}`, (cur) => {
    const nets = cur.config.networks;
    if (!nets.some((n) => n.name === network)) throw new ApiError(404, 'no_such_network', `no network "${network}" (networks: ${nets.map((n) => n.name).join(', ')})`);
    if (nets.some((n) => n.endpoints.some((e) => e.name === endpoint.name))) throw new ApiError(409, 'endpoint_exists', `an endpoint named "${String(endpoint.name)}" already exists`);
    try {
      return cur.withEndpoint(network, endpoint);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ApiError(400, 'invalid_endpoint', `invalid endpoint: ${err.issues.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, err.issues);
    }
  });
  const link = d.desired()?.links.find((l) => l.endpoint === endpoint.name);
  return link ? portView(d, link) : { name: endpoint.name };
}

async function deleteEndpoint(d: DaemonControl, name: string): Promise<unknown> {
  await d.transition(`api: delete endpoint ${name}`, (cur) => {
    if (!cur.isApiEndpoint(name)) {
      const declared = cur.config.networks.find((n) => n.endpoints.some((e) => e.name === name));
      if (declared) throw new ApiError(409, 'declared_in_config', `endpoint "${name}" is declared in ${d.configPath} (network ${declared.name}): remove it there and reload`);
      throw new ApiError(404, 'no_such_endpoint', `no endpoint "${name}"`);
    }
    return cur.withoutEndpoint(name);
  });
  return { removed: name };
}

async function patchPort(d: DaemonControl, name: string, body: unknown): Promise<unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'invalid_body', 'expected a JSON object like {"mode": "private"}');
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== 'mode');
  if (extra.length) throw new ApiError(400, 'invalid_body', `unknown key(s) ${extra.join(', ')} (only "mode" can be changed)`, extra.map((k) => ({ path: k, reason: 'unknown key' })));
  if (typeof b.mode !== 'string' || !(MACVLAN_MODES as readonly string[]).includes(b.mode))
    throw new ApiError(400, 'invalid_mode', `mode: expected one of ${MACVLAN_MODES.join(', ')}, got ${JSON.stringify(b.mode)}`, [{ path: 'mode', reason: 'not a macvlan mode' }]);
  const mode = b.mode as MacvlanMode;
  if (mode === 'passthru' || mode === 'source')
    throw new ApiError(400, 'invalid_mode', `mode: ${mode} cannot be set live (it needs a new device and network settings): change the config and reload`, [{ path: 'mode', reason: 'not changeable live' }]);
  await d.transition(`api: port ${name} mode ${mode}`, (cur) => {
    const l = findPort(d, name);
    if (!l) throw new ApiError(404, 'no_such_port', `no port "${name}"`);
    const was = l.port ? l.port.mode : l.mode;
    if (was === 'passthru' || was === 'source') throw new ApiError(409, 'mode_fixed', `port "${name}" is in ${was} mode, which cannot be changed live`);
    return cur.withMode(name, mode);
  });
  return portView(d, findPort(d, name)!);
}
