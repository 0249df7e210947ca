/**
 * The libnetwork remote NetworkDriver: macvlan networks for dockerd, switched by the kernel's
 * macvlan (dataplane "kernel") or by the macdemux engine in this process (dataplane "userspace",
 * required for VLAN parents like `eth0.10`). The plugin runs in dockerd's network namespace:
 * dockerd moves the device named in the Join reply into the container and, after Leave, back.
 *
 * Devices (names from the endpoint/network id, so a restart finds them again):
 *   mdv<id>  kernel: the container's macvlan on the parent
 *   mdc<id>  userspace: the container's end of a veth pair; mdh<id> is the engine's end
 *   mds<id>  the network's host shim (kernel: a macvlan; userspace: a veth whose peer mdt<id> is an
 *            engine port), with the shim address and a /32 route to every joined container
 */
import { InvalidArgumentError, MacdemuxSystemError } from '../../errors.ts';
import { addAddress, addRoute, createMacvlan, createVeth, deleteLink, deleteRoute, findLink, listAddresses, setLink } from '../../devices/index.ts';
import { normalizeMac } from '../../net/index.ts';
import { log } from '../../log.ts';
import { EngineHost } from '../common/engine-host.ts';
import { macForAddress } from '../common/mac.ts';
import { parseCreateNetwork, type NetworkRecord } from './network-options.ts';
import { PluginState, type EndpointRecord } from './state.ts';

const logger = () => log('docker-plugin');

/** Device name: a 3-letter role prefix and the first 11 hex digits of a docker id (<= 15 bytes). */
export const devName = (prefix: 'mdv' | 'mdc' | 'mdh' | 'mds' | 'mdt', id: string): string => `${prefix}${id.slice(0, 11)}`;

function field(body: unknown, key: string): string {
  const v = (body as Record<string, unknown> | null)?.[key];
  if (typeof v !== 'string' || !/^[0-9a-f]{12,64}$/.test(v)) throw new InvalidArgumentError(key, 'a hex docker id', v);
  return v;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof MacdemuxSystemError && codes.includes(err.code);
}

/** Delete a device if it exists in this namespace. */
async function deleteIfPresent(name: string): Promise<void> {
  try {
    await deleteLink(name);
  } catch (err) {
    if (!isCode(err, 'ENODEV')) throw err;
  }
}

/** The driver's state and its handlers, one per remote API call (bodies as dockerd sends them). */
export class DockerDriver {
  readonly engine = new EngineHost();

  private constructor(readonly state: PluginState) {}

  /** Load the state dir and re-attach what a previous run of the plugin left running. */
  static async open(stateDir: string): Promise<DockerDriver> {
    const d = new DockerDriver(await PluginState.load(stateDir));
    await d.restore();
    return d;
  }

  private network(id: string): NetworkRecord {
    const n = this.state.networks.get(id);
    if (!n) throw new Error(`network ${id.slice(0, 12)} is not known to the macdemux plugin`);
    return n;
  }

  private endpoint(id: string): EndpointRecord {
    const e = this.state.endpoints.get(id);
    if (!e) throw new Error(`endpoint ${id.slice(0, 12)} is not known to the macdemux plugin`);
    return e;
  }

  getCapabilities(): unknown {
    return { Scope: 'local', ConnectivityScope: 'local' };
  }

  async createNetwork(body: unknown): Promise<unknown> {
    const rec = parseCreateNetwork(body);
    for (const other of this.state.networks.values()) {
      if (other.id !== rec.id && other.parent.name === rec.parent.name)
        throw new Error(`network ${other.id.slice(0, 12)} is already using parent interface ${rec.parent.name}`);
    }
    const parent = await findLink(rec.parent.dev);
    if (!parent) throw new Error(`parent interface ${rec.parent.dev} does not exist in the plugin's network namespace`);
    if (rec.dataplane === 'kernel' && rec.mode === 'passthru' && [...this.state.networks.values()].some((n) => n.parent.dev === rec.parent.dev))
      throw new Error(`passthru needs ${rec.parent.dev} for itself`);
    if (!parent.flags.includes('UP')) await setLink(rec.parent.dev, { up: true });
    this.state.networks.set(rec.id, rec);
    try {
      if (rec.hostShim) await this.ensureShim(rec);
      await this.state.save();
    } catch (err) {
      this.state.networks.delete(rec.id);
      await this.removeShim(rec).catch(() => {});
      throw err;
    }
    logger().info({ event: 'network.created', network: rec.id.slice(0, 12), parent: rec.parent.name, dataplane: rec.dataplane, mode: rec.mode }, `network ${rec.id.slice(0, 12)} on ${rec.parent.name} (${rec.dataplane}, ${rec.mode})`);
    return {};
  }

  async deleteNetwork(body: unknown): Promise<unknown> {
    const id = field(body, 'NetworkID');
    const rec = this.state.networks.get(id);
    if (!rec) return {}; // already gone (e.g. a retry after a plugin restart)
    for (const e of this.state.endpointsOf(id)) await this.removeEndpointDevices(rec, e);
    await this.removeShim(rec);
    for (const e of this.state.endpointsOf(id)) this.state.endpoints.delete(e.id);
    this.state.networks.delete(id);
    await this.state.save();
    logger().info({ event: 'network.deleted', network: id.slice(0, 12) }, `network ${id.slice(0, 12)} deleted`);
    return {};
  }

  async createEndpoint(body: unknown): Promise<unknown> {
    const networkId = field(body, 'NetworkID');
    const id = field(body, 'EndpointID');
    this.network(networkId);
    const iface = ((body as Record<string, unknown>).Interface ?? {}) as Record<string, unknown>;
    const address = typeof iface.Address === 'string' && iface.Address ? iface.Address : undefined;
    const address6 = typeof iface.AddressIPv6 === 'string' && iface.AddressIPv6 ? iface.AddressIPv6 : undefined;
    const given = typeof iface.MacAddress === 'string' && iface.MacAddress ? normalizeMac(iface.MacAddress, '--mac-address') : undefined;
    const mac = given ?? macForAddress(address);
    for (const e of this.state.endpointsOf(networkId)) {
      if (e.id !== id && e.mac === mac) throw new Error(`MAC ${mac} is already used by endpoint ${e.id.slice(0, 12)} on this network`);
    }
    const rec: EndpointRecord = { id, networkId, mac, ...(address ? { address } : {}), ...(address6 ? { address6 } : {}) };
    this.state.endpoints.set(id, rec);
    await this.state.save();
    // Only a MAC that dockerd did not give may be returned (it refuses to overwrite one).
    return given ? {} : { Interface: { MacAddress: mac } };
  }

  async deleteEndpoint(body: unknown): Promise<unknown> {
    const id = field(body, 'EndpointID');
    const e = this.state.endpoints.get(id);
    if (!e) return {};
    const n = this.state.networks.get(e.networkId);
    if (n) await this.removeEndpointDevices(n, e);
    this.state.endpoints.delete(id);
    await this.state.save();
    return {};
  }

  endpointOperInfo(body: unknown): unknown {
    const e = this.endpoint(field(body, 'EndpointID'));
    return { Value: { mac: e.mac, ...(e.address ? { address: e.address } : {}), ...(e.srcName ? { device: e.srcName } : {}) } };
  }

  async join(body: unknown): Promise<unknown> {
    const e = this.endpoint(field(body, 'EndpointID'));
    const n = this.network(e.networkId);
    // A Join after a plugin crash may find the devices of an earlier attempt: start clean.
    await this.removeEndpointDevices(n, e);
    if (n.dataplane === 'kernel') {
      const name = devName('mdv', e.id);
      await createMacvlan({ name, parent: n.parent.dev, mode: n.mode, mac: e.mac, ...(n.mtu ? { mtu: n.mtu } : {}) });
      e.srcName = name;
    } else {
      const host = devName('mdh', e.id);
      const cont = devName('mdc', e.id);
      await createVeth({ name: host, peer: cont, peerMac: e.mac, up: true, ...(n.mtu ? { mtu: n.mtu, peerMtu: n.mtu } : {}) });
      try {
        await this.engine.addPort(n.parent.dev, { name: e.id.slice(0, 12), mac: e.mac, mode: n.mode, ifname: host, ...(n.parent.vlan ? { vlan: n.parent.vlan } : {}) });
      } catch (err) {
        await deleteIfPresent(host);
        throw err;
      }
      e.srcName = cont;
      e.hostIfname = host;
    }
    if (n.hostShim && e.address) await this.shimRoute('add', n, e);
    await this.state.save();
    return {
      InterfaceName: { SrcName: e.srcName, DstPrefix: 'eth' },
      ...(n.gateway ? { Gateway: n.gateway } : {}),
      ...(n.gateway6 ? { GatewayIPv6: n.gateway6 } : {}),
      DisableGatewayService: true,
    };
  }

  async leave(body: unknown): Promise<unknown> {
    const e = this.state.endpoints.get(field(body, 'EndpointID'));
    if (!e) return {};
    const n = this.state.networks.get(e.networkId);
    if (n) await this.removeEndpointDevices(n, e);
    await this.state.save();
    return {};
  }

  /**
   * Remove what Join made: the engine port, the host route, the devices (the container's device is
   * found here only once dockerd has moved it back; inside the container it dies with the namespace).
   */
  private async removeEndpointDevices(n: NetworkRecord, e: EndpointRecord): Promise<void> {
    if (n.hostShim && e.address) await this.shimRoute('del', n, e);
    if (n.dataplane === 'userspace') {
      await this.engine.removePort(n.parent.dev, e.id.slice(0, 12));
      await deleteIfPresent(devName('mdh', e.id)); // takes mdc<id> with it, wherever it is
    } else {
      await deleteIfPresent(devName('mdv', e.id));
    }
    delete e.srcName;
    delete e.hostIfname;
  }

  private async shimRoute(op: 'add' | 'del', n: NetworkRecord, e: EndpointRecord): Promise<void> {
    const dst = `${e.address!.split('/')[0]}/32`;
    const dev = devName('mds', n.id);
    try {
      if (op === 'add') await addRoute({ dst, dev });
      else await deleteRoute({ dst, dev });
    } catch (err) {
      if (op === 'add' && isCode(err, 'EEXIST')) return;
      if (op === 'del' && isCode(err, 'ESRCH', 'ENODEV', 'ENOENT')) return;
      throw err;
    }
  }

  /** Create (or find) the network's host shim with its address. */
  private async ensureShim(n: NetworkRecord): Promise<void> {
    const shim = devName('mds', n.id);
    let link = await findLink(shim);
    if (!link) {
      if (n.dataplane === 'kernel') {
        link = await createMacvlan({ name: shim, parent: n.parent.dev, mode: n.mode === 'passthru' ? 'bridge' : n.mode, up: true });
      } else {
        link = await createVeth({ name: shim, peer: devName('mdt', n.id), up: true, peerUp: true });
      }
    }
    if (n.dataplane === 'userspace' && !this.engine.hasPort(n.parent.dev, `shim-${n.id.slice(0, 12)}`)) {
      await this.engine.addPort(n.parent.dev, { name: `shim-${n.id.slice(0, 12)}`, mac: link.mac!, mode: n.mode, ifname: devName('mdt', n.id), ...(n.parent.vlan ? { vlan: n.parent.vlan } : {}) });
    }
    const have = await listAddresses(shim);
    // A /32 plus a /32 route per joined container: the subnet's own route (via the parent, when the
    // host has an address there) stays as it is; only this host's containers go through the shim.
    if (!have.some((a) => a.address === n.hostShim)) await addAddress(shim, `${n.hostShim}/32`);
  }

  private async removeShim(n: NetworkRecord): Promise<void> {
    if (!n.hostShim) return;
    if (n.dataplane === 'userspace') await this.engine.removePort(n.parent.dev, `shim-${n.id.slice(0, 12)}`);
    await deleteIfPresent(devName('mds', n.id));
  }

  /** After a restart: shims back, and every joined userspace endpoint's engine port re-attached. */
  private async restore(): Promise<void> {
    for (const n of this.state.networks.values()) {
      try {
        if (n.hostShim) await this.ensureShim(n);
        for (const e of this.state.endpointsOf(n.id)) {
          if (n.dataplane === 'userspace' && e.hostIfname && (await findLink(e.hostIfname))) {
            await this.engine.addPort(n.parent.dev, { name: e.id.slice(0, 12), mac: e.mac, mode: n.mode, ifname: e.hostIfname, ...(n.parent.vlan ? { vlan: n.parent.vlan } : {}) });
          }
          if (n.hostShim && e.address && e.srcName) await this.shimRoute('add', n, e);
        }
      } catch (err) {
        logger().warn({ event: 'restore.failed', network: n.id.slice(0, 12), err: (err as Error).message }, `restore of network ${n.id.slice(0, 12)}: ${(err as Error).message}`);
      }
    }
    logger().info({ event: 'restored', networks: this.state.networks.size, endpoints: this.state.endpoints.size }, `state: ${this.state.networks.size} network(s), ${this.state.endpoints.size} endpoint(s)`);
  }

  async close(): Promise<void> {
    await this.engine.stopAll();
  }
}
