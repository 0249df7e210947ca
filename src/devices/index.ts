/**
 * Kernel network devices over rtnetlink (no shelling out to `ip`): macvlan/macvtap in every mode,
 * veth pairs, bridges, link settings, namespaces, addresses, routes, and offloads (ethtool netlink). Every function takes
 * `{ netns }` as its last option to run inside a named namespace, like `ip -n NS`.
 */
export {
  createMacvlan,
  createVeth,
  createBridge,
  createLink,
  deleteLink,
  getLink,
  findLink,
  listLinks,
  setLink,
  setMaster,
  setBridgePort,
  changeMacvlan,
  setSourceMacs,
  type CommonCreateOptions,
  type MacvlanCreateOptions,
  type VethCreateOptions,
  type BridgeCreateOptions,
  type LinkSettings,
  type BridgePortSettings,
  type MacvlanSettings,
} from './links.ts';
export type { LinkInfo, MacvlanInfo, LinkStats } from './link-info.ts';
export { addAddress, deleteAddress, listAddresses, type AddressInfo, type AddAddressOptions } from './addresses.ts';
export { addRoute, deleteRoute, listRoutes, type RouteSpec, type RouteInfo } from './routes.ts';
export {
  getOffloads,
  setOffloads,
  OFFLOAD_FEATURES,
  type Offload,
  type OffloadSettings,
  type OffloadState,
} from './offloads.ts';
export type { NetnsRef, NetnsOption } from './netns-ref.ts';
export { parseCidr } from './validate.ts';
// The shared vocabulary (src/net), re-exported for callers of the devices API.
export { MACVLAN_MODES, MACADDR_OPS, parseMac, normalizeMac, validateIfname, type MacvlanMode, type MacaddrOp } from '../net/index.ts';
