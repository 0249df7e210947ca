/**
 * The plugin's persistent state: networks and endpoints, in one JSON file in the state dir,
 * replaced atomically after every change. dockerd keeps its own copy of the networks and endpoints
 * and does not replay them when a plugin restarts, so without this file a restarted plugin would
 * not know a network's parent or an endpoint's devices.
 */
import { join } from 'node:path';
import { ensurePrivateDir, readJsonFile, removeStaleTemporaries, writeFileAtomic } from '../../service/atomic-file.ts';
import type { NetworkRecord } from './network-options.ts';

/** An endpoint (a container's interface on a network). */
export interface EndpointRecord {
  id: string;
  networkId: string;
  mac: string;
  /** IPv4 with prefix as dockerd's IPAM gave it ("172.16.86.10/24"). */
  address?: string;
  address6?: string;
  /** The device handed to dockerd at Join (it moves it into the container). */
  srcName?: string;
  /** Userspace: the veth end in the plugin's namespace that the engine reads. */
  hostIfname?: string;
}

interface StateFile {
  version: 1;
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
}

const FILE = 'docker-plugin.json';

/** Networks and endpoints, loaded from and saved to the state dir. */
export class PluginState {
  readonly networks = new Map<string, NetworkRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();

  private constructor(private readonly path: string) {}

  /** Load (or start empty) from `dir`. A corrupt file is an error, never an empty state. */
  static async load(dir: string): Promise<PluginState> {
    await ensurePrivateDir(dir);
    await removeStaleTemporaries(dir, FILE);
    const st = new PluginState(join(dir, FILE));
    const data = (await readJsonFile(st.path)) as StateFile | undefined;
    if (data !== undefined) {
      if (data.version !== 1 || !Array.isArray(data.networks) || !Array.isArray(data.endpoints))
        throw new Error(`${st.path}: not a macdemux docker-plugin state file (version 1)`);
      for (const n of data.networks) st.networks.set(n.id, n);
      for (const e of data.endpoints) st.endpoints.set(e.id, e);
    }
    return st;
  }

  async save(): Promise<void> {
    const data: StateFile = { version: 1, networks: [...this.networks.values()], endpoints: [...this.endpoints.values()] };
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`);
  }

  endpointsOf(networkId: string): EndpointRecord[] {
    return [...this.endpoints.values()].filter((e) => e.networkId === networkId);
  }
}
