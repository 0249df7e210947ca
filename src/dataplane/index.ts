/** Public API of the userspace data plane. */
export { Switch, type SwitchOptions } from './switch.ts';
export type { SwitchLinkEvent, DeviceLinkState, WatchedDevice } from './link-watch.ts';
export { decide, parseFrame, UPLINK, NO_TCI, type Delivery, type LearnedMacs } from './decide.ts';
export { PortTable, type TableEntry, DEFAULT_MAX_FRAME_LEN } from './port-table.ts';
export { validatePortSpec } from './port-spec.ts';
export { DropReason, DROP_REASON_NAMES } from './drop-reasons.ts';
export type { MacvlanMode, PortSpec, PortBackend, SwitchFrameBatch, PortCounters, SwitchCounters } from './types.ts';
