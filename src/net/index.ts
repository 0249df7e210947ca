/**
 * The network vocabulary every layer shares (devices, io, dataplane, service, plugins, CLI): one
 * rule for interface names, one MAC parser and formatter, the macvlan modes, the AF_PACKET ring
 * options. Failures are InvalidArgumentErrors in sharp's shape: "Expected X for NAME but received Y".
 */
export { IFNAMSIZ, IFNAME_MAX, isIfname, validateIfname, ifnameProblem } from './ifname.ts';
export { isMac, isUnicastMac, parseMac, formatMac, formatHwAddr, normalizeMac, macToNumber, macFromNumber, type ParseMacOptions } from './mac.ts';
export { MACVLAN_MODES, MACADDR_OPS, isMacvlanMode, validateMode, validateMacaddrOp, type MacvlanMode, type MacaddrOp } from './macvlan.ts';
export { validateRingOptions, type RingOptions } from './ring.ts';
export { parseParent, isVlanParent, type ParentSpec } from './parent.ts';
