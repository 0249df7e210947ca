/**
 * Which uplink RX backend a switch uses: AF_PACKET rings alone ('packet'), or the XDP program in
 * front of them ('xdp', addon/engine_xdp.cc), and the 'auto' rule.
 *
 * 'auto' follows what was measured on this project's kernel (../docs/dataplane.md, section "Uplink
 * backends"): XDP wins only when frames reach the uplink as XDP frames, i.e. from a NIC driver that
 * runs XDP natively (devmap forwarding 1.08x kernel macvlan, 1.69x the bridge). When frames reach it
 * as skbs — every virtual device: veth copies each skb into a fresh page before an XDP program runs
 * (drivers/net/veth.c veth_convert_skb_to_xdp_buff) — XDP is slower than the TPACKET_V3 ring
 * (XDP_DROP 0.665 Mpps vs V3 drop-all 0.694 Mpps). So 'auto' picks XDP for a device without a
 * virtual link kind (a NIC) and AF_PACKET for veth and the other virtual kinds.
 */

/** 'tc' (opt-in, never chosen by 'auto'): a tc ingress program (tcx) forwards known unicast to ports on
 * kernel devices as whole skbs (GSO and checksum offload state kept, which XDP on veth loses); the
 * rest reaches the rings as with 'packet' (../docs/dataplane.md, "tc fast path"). One worker. */
export type Backend = 'packet' | 'xdp' | 'tc';
export type BackendChoice = Backend | 'auto';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['packet', 'xdp', 'tc', 'auto'];

/** The backend used and why (for logs and status). */
export interface BackendDecision {
  backend: Backend;
  reason: string;
}

/** Resolve 'auto' for an uplink (looked up in netns). */
export async function resolveBackend(choice: BackendChoice, uplink: string, netns?: string): Promise<BackendDecision> {
  if (choice === 'packet') return { backend: 'packet', reason: 'requested' };
  if (choice === 'xdp') return { backend: 'xdp', reason: 'requested' };
  if (choice === 'tc') return { backend: 'tc', reason: 'requested' };
  const { getLink } = await import('../devices/links.ts'); // config validation imports this file: keep it light
  const link = await getLink(uplink, netns !== undefined ? { netns } : {});
  if (link.kind) {
    return {
      backend: 'packet',
      reason: `auto: "${uplink}" is a ${link.kind} device, whose frames reach XDP as skbs (measured slower than the TPACKET_V3 ring)`,
    };
  }
  return { backend: 'xdp', reason: `auto: "${uplink}" is a NIC; its driver's native XDP sees frames before any skb exists` };
}
