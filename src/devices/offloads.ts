/**
 * Offloads (device features) in `ethtool -k/-K` words, over ethtool netlink (src/netlink/ethtool.ts):
 * no `ethtool` program needed. Each word stands for the kernel features it groups, as ethtool's own
 * off_flag_def table groups them (ethtool.c): `tx` = every "tx-checksum-*", `tso` = every
 * "tx-tcp*-segmentation", `gso` = "tx-generic-segmentation", `gro` = "rx-gro", ...
 */
import { InvalidArgumentError, systemError } from '../errors.ts';
import { getFeatures, setFeatures, type DeviceFeatures } from '../netlink/ethtool.ts';
import { withGenl } from '../netlink/socket.ts';
import type { NetnsOption } from './netns-ref.ts';
import { validateIfname } from '../net/ifname.ts';

/** The offload words, each with the kernel feature names (patterns, `*` = any) it stands for. */
export const OFFLOAD_FEATURES = {
  /** Receive checksum offload. */
  rx: ['rx-checksum'],
  /** Transmit checksum offload (turning it off also turns off TSO, which needs it). */
  tx: ['tx-checksum-*'],
  /** Scatter-gather. */
  sg: ['tx-scatter-gather*'],
  /** TCP segmentation offload (IPv4, IPv6, ECN, mangle-id). */
  tso: ['tx-tcp*-segmentation'],
  /** Generic segmentation offload. */
  gso: ['tx-generic-segmentation'],
  /** Generic receive offload. */
  gro: ['rx-gro'],
  /** Large receive offload. */
  lro: ['rx-lro'],
  /** VLAN tag stripping on receive. */
  rxvlan: ['rx-vlan-hw-parse'],
  /** VLAN tag insertion on transmit. */
  txvlan: ['tx-vlan-hw-insert'],
} as const;

/** An offload word (`ethtool -K` name). */
export type Offload = keyof typeof OFFLOAD_FEATURES;
/** Offloads to turn on (true) or off (false); words left out stay as they are. */
export type OffloadSettings = Partial<Record<Offload, boolean>>;
/** State of each offload word: on when any of its features is active; absent when the device has none of them. */
export type OffloadState = Partial<Record<Offload, boolean>> & {
  /** The device's features by kernel name: changeable, wanted, active, fixed. */
  features: DeviceFeatures;
};

const WORDS = Object.keys(OFFLOAD_FEATURES) as Offload[];

/** `*` in a pattern matches any run of characters (as in ethtool's table: "tx-tcp*-segmentation"). */
function matches(pattern: string, name: string): boolean {
  const [head = '', ...rest] = pattern.split('*');
  if (!rest.length) return name === pattern;
  if (!name.startsWith(head)) return false;
  let at = head.length;
  for (let i = 0; i < rest.length; i++) {
    const part = rest[i]!;
    if (i === rest.length - 1) return name.length - part.length >= at && name.endsWith(part);
    const found = name.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return true;
}

function names(word: Offload, all: Iterable<string>): string[] {
  return [...all].filter((n) => OFFLOAD_FEATURES[word].some((p) => matches(p, n)));
}

function stateOf(f: DeviceFeatures): OffloadState {
  const state: OffloadState = { features: f };
  for (const w of WORDS) {
    const known = names(w, new Set([...f.changeable, ...f.active, ...f.fixed]));
    if (known.length) state[w] = known.some((n) => f.active.has(n));
  }
  return state;
}

/** Read the offloads of `ifname` (like `ethtool -k IF`). */
export async function getOffloads(ifname: string, opts: NetnsOption = {}): Promise<OffloadState> {
  validateIfname(ifname);
  return withGenl(opts.netns, (s) => stateOf(getFeatures(s, ifname)));
}

function validateSettings(settings: unknown): [Offload, boolean][] {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
    throw new InvalidArgumentError('offloads', `an object of ${WORDS.join('/')} booleans`, settings);
  }
  const out: [Offload, boolean][] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (!(WORDS as string[]).includes(k)) throw new InvalidArgumentError('offloads', `one of ${WORDS.join(', ')}`, k);
    if (typeof v !== 'boolean') throw new InvalidArgumentError(`offloads.${k}`, 'a boolean', v);
    out.push([k as Offload, v]);
  }
  if (!out.length) throw new InvalidArgumentError('offloads', 'at least one offload', settings);
  return out;
}

/**
 * Turn offloads of `ifname` on or off (like `ethtool -K IF tx off gso off ...`) and read them back.
 * Fails, naming the features, when the device cannot change a requested offload (none of its
 * features is changeable; nothing is sent) or the kernel did not apply it (e.g. `tso on` with
 * `tx off`: TSO needs checksum offload); then the requested features' wanted state is put back.
 */
export async function setOffloads(ifname: string, settings: OffloadSettings, opts: NetnsOption = {}): Promise<OffloadState> {
  validateIfname(ifname);
  const wanted = validateSettings(settings);
  return withGenl(opts.netns, (s) => {
    const before = getFeatures(s, ifname);
    const request = new Map<string, boolean>();
    for (const [w, on] of wanted) {
      const changeable = names(w, before.changeable);
      if (!changeable.length) {
        // Nothing to do when the fixed state already is the requested one (e.g. lro off on veth).
        if ((names(w, before.active).length > 0) !== on) {
          throw systemError(-95, 'ETHTOOL_MSG_FEATURES_SET', {
            what: 'device',
            ifname,
            op: `turn ${w} ${on ? 'on' : 'off'}`,
            kernelMessage: `no changeable ${OFFLOAD_FEATURES[w].join('/')} feature on this device`,
          });
        }
        continue;
      }
      for (const n of changeable) request.set(n, on);
    }
    if (request.size) setFeatures(s, ifname, request);
    const after = getFeatures(s, ifname);
    const missed = [...request].filter(([n, on]) => after.active.has(n) !== on);
    if (missed.length) {
      setFeatures(s, ifname, new Map([...request.keys()].map((n) => [n, before.wanted.has(n)])));
      throw systemError(-22, 'ETHTOOL_MSG_FEATURES_SET', {
        what: 'device',
        ifname,
        op: 'change offloads',
        kernelMessage: `not applied: ${missed.map(([n, on]) => `${n} ${on ? 'on' : 'off'}`).join(', ')}`,
      });
    }
    return stateOf(after);
  });
}
