/**
 * The character devices of the daemon's macvtap (tap / vm) endpoints, made under
 * `<stateDir>/dev/<netns>/<ifname>` with the endpoint's owner, group and mode (src/devices/
 * macvtap-node.ts says why never /dev/tapN), remade after every apply (a recreated macvtap has new
 * numbers), removed with their endpoint. The same nodes back the fd hand-off (src/handoff/).
 */
import { openSync, closeSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeMacvtapNode, macvtapNodePath, type MacvtapNode } from '../devices/macvtap-node.ts';
import type { HandoffEndpoint } from '../handoff/server.ts';
import type { ServiceConfig } from './config.ts';
import type { DesiredState } from './desired.ts';

/** One endpoint's node, as the API reports it. */
export interface EndpointNode extends MacvtapNode {
  endpoint: string;
  netns?: string;
  mac: string;
  queues: number;
}

export class VmNodes {
  readonly dir: string;
  readonly #nodes = new Map<string, EndpointNode>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'dev');
  }

  /** Makes the nodes of the applied state's tap endpoints and removes the others. */
  async sync(desired: DesiredState, config: ServiceConfig): Promise<void> {
    const keep = new Set<string>();
    for (const l of desired.links) {
      if (l.type !== 'macvtap' || !l.endpoint) continue; // a userspace VM tap is opened through /dev/net/tun
      const ep = config.networks.find((n) => n.name === l.network)?.endpoints.find((e) => e.name === l.endpoint);
      const vm = ep?.vm;
      const node = await makeMacvtapNode({
        ifname: l.name,
        ...(l.netns ? { netns: l.netns } : {}),
        dir: this.dir,
        ...(vm?.owner !== undefined ? { owner: vm.owner } : {}),
        ...(vm?.group !== undefined ? { group: vm.group } : {}),
        mode: vm?.mode ?? 0o600,
      });
      keep.add(node.path);
      this.#nodes.set(l.endpoint, { ...node, endpoint: l.endpoint, ...(l.netns ? { netns: l.netns } : {}), mac: l.mac, queues: vm?.queues ?? 1 });
    }
    for (const [name, n] of this.#nodes) {
      if (keep.has(n.path)) continue;
      rmSync(n.path, { force: true });
      this.#nodes.delete(name);
    }
  }

  /** The node of an endpoint. */
  get(endpoint: string): EndpointNode | undefined {
    return this.#nodes.get(endpoint);
  }

  /** The hand-off view of an endpoint: its owner/group and a way to open N queues (one open() each). */
  handoff(endpoint: string): HandoffEndpoint | undefined {
    const n = this.#nodes.get(endpoint);
    if (!n) return undefined;
    return {
      ...(n.owner !== 0 ? { owner: n.owner } : {}),
      ...(n.group !== 0 ? { group: n.group } : {}),
      ifname: n.ifname,
      mac: n.mac,
      // every open() of a macvtap's character device is one more queue (drivers/net/tap.c tap_open)
      open: async (queues) => {
        const fds: number[] = [];
        try {
          for (let i = 0; i < queues; i++) fds.push(openSync(macvtapNodePath(this.dir, n.ifname, n.netns), 'r+'));
        } catch (err) {
          for (const fd of fds) closeSync(fd);
          throw err;
        }
        return fds;
      },
    };
  }

  /** Removes every node (teardown). */
  clear(): void {
    for (const n of this.#nodes.values()) rmSync(n.path, { force: true });
    this.#nodes.clear();
    try {
      for (const d of readdirSync(this.dir)) rmdirSync(join(this.dir, d));
    } catch {
      /* not empty or not there */
    }
  }
}
