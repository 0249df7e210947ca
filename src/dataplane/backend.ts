/**
 * Which uplink RX backend a switch uses: AF_PACKET rings alone ('packet'), the XDP program in front
 * of them ('xdp', addon/dataplane/engine_xdp.cc), the tc fast path ('tc'), and the 'auto' rule (the
 * default).
 *
 * 'auto' follows what was measured on this project's kernel (../docs/dataplane.md, "Uplink
 * backends: which one and why"):
 * - a NIC (a device without a virtual link kind): 'xdp'. Its driver's native XDP sees frames before
 *   any skb exists (devmap forwarding 1.08x kernel macvlan, 1.69x the bridge).
 * - a virtual device (veth, ...): its frames reach an XDP program as skbs, each copied into a fresh
 *   page with its GSO and checksum state gone (drivers/net/veth.c veth_convert_skb_to_xdp_buff), so
 *   XDP is slower there than the rings. A tc program sees the skb itself: 'tc' forwards known unicast
 *   as whole skbs (TCP with default offloads 0.73-1.64x the bridge against the packet backend's
 *   0.55x; ping, latency p99, CPU per packet and busy-host loss within the issue-9 bars that 'packet'
 *   misses: docs/bench/RESULTS.md). It runs one worker and needs tcx links (Linux 6.6+) and the
 *   right to load BPF; without any of these, 'packet'.
 */

/** 'tc': a tc ingress program (tcx) forwards known unicast to ports on kernel devices as whole skbs
 * (GSO and checksum offload state kept, which XDP on veth loses); the rest reaches the rings as with
 * 'packet' (../docs/dataplane.md, "tc fast path"). One worker. */
export type Backend = 'packet' | 'xdp' | 'tc';
export type BackendChoice = Backend | 'auto';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['packet', 'xdp', 'tc', 'auto'];

/** What a switch uses when no backend is named. */
export const DEFAULT_BACKEND: BackendChoice = 'auto';

/** The backend used and why (for logs and status). */
export interface BackendDecision {
  backend: Backend;
  reason: string;
}

/** What the 'auto' rule decides from. */
export interface BackendFacts {
  /** The uplink's link kind ('veth', 'macvlan', 'bridge', ...); undefined for a device without one (a NIC). */
  linkKind: string | undefined;
  /** The switch's worker count. */
  workers: number;
  /** Whether this process can attach a tc program with a tcx link: true, or why not. Only looked at
   * for a virtual uplink and one worker (undefined: not probed). */
  tcx?: true | string;
}

/** The decision for `choice` on `uplink` given the facts (pure: the rule itself, tested with injected facts). */
export function chooseBackend(choice: BackendChoice, uplink: string, facts: BackendFacts): BackendDecision {
  if (choice !== 'auto') return { backend: choice, reason: 'requested' };
  if (!facts.linkKind) return { backend: 'xdp', reason: `auto: "${uplink}" is a NIC; its driver's native XDP sees frames before any skb exists` };
  const dev = `"${uplink}" is a ${facts.linkKind} device`;
  if (facts.workers > 1)
    return {
      backend: 'packet',
      reason: `auto: ${dev} and the switch has ${facts.workers} workers; the tc fast path runs one worker, so AF_PACKET rings`,
    };
  if (facts.tcx !== true)
    return { backend: 'packet', reason: `auto: ${dev}, but the tc fast path is not available here (${facts.tcx ?? 'not probed'}), so AF_PACKET rings` };
  return {
    backend: 'tc',
    reason: `auto: ${dev} with one worker: a tc program forwards known unicast as whole skbs (offloads kept), the rest goes through the rings`,
  };
}

/**
 * The decision when the chosen fast path failed to start under 'auto' (the switch then runs on the
 * rings); undefined when the error is not one that says the fast path cannot work in this process or
 * on this kernel (the start then fails with it, as it would with 'packet').
 */
export function fallbackAfter(decision: BackendDecision, choice: BackendChoice, uplink: string, err: unknown): BackendDecision | undefined {
  if (choice !== 'auto' || decision.backend === 'packet') return undefined;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !FALLBACK_CODES.has(code)) return undefined;
  const what = decision.backend === 'tc' ? 'the tc fast path' : 'XDP';
  return { backend: 'packet', reason: `auto: ${what} could not start on "${uplink}" (${(err as Error).message}), so AF_PACKET rings` };
}

/** Errors of a BPF load or attach that the same call would meet again: no rights, no kernel support,
 * a driver without native XDP (EOPNOTSUPP; 524 is the kernel's internal ENOTSUPP). */
const FALLBACK_CODES = new Set(['EPERM', 'EACCES', 'EINVAL', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'E524']);

/** The tcx probe's answer, once per process (kernel support and the process's rights do not change). */
let tcxProbe: true | string | undefined;

/** Whether this process can use tcx links (addon/xdp/tcx_probe.cc: a trivial tc program loaded, a link
 * asked for on no device); cached. */
export async function probeTcx(): Promise<true | string> {
  if (tcxProbe !== undefined) return tcxProbe;
  const [{ native }, { describeErrno }] = await Promise.all([import('../native.ts'), import('../errors.ts')]);
  const detail: { step?: string } = {};
  const rc = (native() as unknown as { xdpProbeTcx(detail: { step?: string }): number }).xdpProbeTcx(detail);
  if (rc >= 0) tcxProbe = true;
  else {
    const [code, desc] = describeErrno(rc);
    tcxProbe =
      detail.step === 'load'
        ? `loading a BPF program: ${code} (${desc})${code === 'EPERM' ? '; needs CAP_BPF and CAP_NET_ADMIN' : ''}`
        : `tcx links: ${code} (${desc})${code === 'EINVAL' || code === 'EOPNOTSUPP' ? '; Linux 6.6+ has them' : ''}`;
  }
  return tcxProbe;
}

/** Resolve `choice` for an uplink (looked up in netns) and a worker count. */
export async function resolveBackend(choice: BackendChoice, uplink: string, netns: string | undefined, workers: number): Promise<BackendDecision> {
  if (choice !== 'auto') return chooseBackend(choice, uplink, { linkKind: undefined, workers });
  const { getLink } = await import('../devices/links.ts'); // config validation imports this file: keep it light
  const link = await getLink(uplink, netns !== undefined ? { netns } : {});
  const linkKind = link.kind || undefined;
  const tcx = linkKind && workers === 1 ? await probeTcx() : undefined;
  return chooseBackend(choice, uplink, { linkKind, workers, ...(tcx !== undefined ? { tcx } : {}) });
}
