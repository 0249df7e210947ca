/**
 * macdemux's public API, the package's front door: `import { Switch, PacketPort } from 'macdemux'`.
 * One name for each concept; the modules behind it (src/dataplane, src/io, src/devices, src/net,
 * src/service, src/lab) are the implementation. Types come from dist/src/index.d.ts.
 */

// The userspace switch (macvlan/macvtap semantics in userspace).
export { Switch, type SwitchOptions } from './dataplane/index.ts';
export { DropReason, DROP_REASON_NAMES } from './dataplane/index.ts';
export type { PortSpec, PortBackend, PortCounters, SwitchCounters, SwitchFrameBatch } from './dataplane/index.ts';

// Packet I/O: AF_PACKET ports, tap/macvtap queues, the traffic generator and sink, relays, BPF.
export { PacketPort, FrameBatch, TP_STATUS, type PacketPortOptions, type FanoutMode } from './io/index.ts';
export { TapQueue, TapBatch, offloadFlags, type TapQueueOptions, type TapOffloads } from './io/index.ts';
export { startGenerator, openSink, startRelay, compileTcpdumpFilter, bpfEtherType, bpfDstMac } from './io/index.ts';
export type { Generator, GeneratorOptions, GeneratorStats, Sink, SinkOptions, SinkStats } from './io/index.ts';
export type { Relay, RelayOptions, RelayStats, BpfProgram, RingOptions } from './io/index.ts';

// Kernel devices over netlink (macvlan, macvtap, veth, bridge, addresses, routes, offloads).
export * as devices from './devices/index.ts';

// The shared network vocabulary: interface names, MACs, macvlan modes.
export { validateIfname, isIfname, parseMac, formatMac, normalizeMac, isMac, MACVLAN_MODES, type MacvlanMode } from './net/index.ts';

// The switching service's config (the YAML `macdemux up` and macdemuxd read).
export { loadConfig, parseConfig, validateConfig, ConfigError } from './service/config.ts';
export type { ServiceConfig, NetworkConfig, EndpointConfig, IpamConfig, ConfigIssue } from './service/config.ts';

// Errors: system errors carry errno/code/syscall/interface; bad input names the field.
export { MacdemuxSystemError, InvalidArgumentError } from './errors.ts';

// Self-contained namespace labs for tests, demos and benchmarks.
export { Lab, withLab, Namespace, type VethSpec, type VethEnd, type LabOptions } from './lab/index.ts';
