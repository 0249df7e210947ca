/**
 * Why the data plane dropped a frame. The numeric values are shared with addon/dataplane/frame_parse.h
 * (enum DropReason): keep both in sync.
 */
export const DropReason = {
  none: 0,
  /** Shorter than an Ethernet header (14 bytes; 18 with an inline 802.1Q tag). */
  runt: 1,
  /** Longer than the switch's maxFrameLen (length without the VLAN tag). */
  oversized: 2,
  /** Reserved VLAN id 4095, or a multicast source MAC. */
  malformed: 3,
  /** Unicast from the uplink to a MAC no port owns (or a source-mode port's MAC). */
  unknownUnicast: 4,
  /** From the uplink, tagged with a VLAN no port is bound to (or untagged with no untagged port). */
  unknownVlan: 5,
  /** Broadcast/multicast whose flood set is empty. */
  noReceiver: 6,
  /** 802.3x pause frame (EtherType 0x8808): never flooded. */
  pause: 7,
  /** The ingress port was removed while the frame was in flight. */
  ingressGone: 8,
} as const;

export type DropReasonName = keyof typeof DropReason;

/** Number of drop-reason counters (array length; reasons above the named ones are reserved). */
export const DROP_REASON_COUNT = 16;

/** Names indexed by value (index 0 = 'none'). */
export const DROP_REASON_NAMES: DropReasonName[] = (() => {
  const names: DropReasonName[] = [];
  for (const [k, v] of Object.entries(DropReason)) names[v] = k as DropReasonName;
  return names;
})();
