/**
 * Native packet I/O: AF_PACKET ports (TPACKET_V3 rings), macvtap/tap queues, and the native
 * traffic generator and sink used by tests, the demo and the benchmarks.
 */
export { startGenerator, TEST_PAYLOAD } from './generator.ts';
export type { FrameTemplate, Generator, GeneratorOptions, GeneratorStats } from './generator.ts';
export { openSink } from './sink.ts';
export type { Sink, SinkOptions, SinkStats } from './sink.ts';
export { PortCountersView, PORT_COUNTER_NAMES } from './counters.ts';
export type { PortCounterName, PortCounterSnapshot } from './counters.ts';
export { parseMac, formatMac, isMac } from '../net/index.ts';
export type { RingOptions } from '../net/index.ts';
export { PacketPort, FrameBatch, TP_STATUS } from './packet-port.ts';
export type { PacketPortOptions, FanoutMode } from './packet-port.ts';
export { encodeBpf, parseTcpdumpDd, compileTcpdumpFilter, bpfEtherType, bpfDstMac } from './bpf.ts';
export type { BpfProgram, BpfInsn } from './bpf.ts';
export { TapQueue, TapBatch, offloadFlags } from './tap-queue.ts';
export type { TapQueueOptions, TapOffloads } from './tap-queue.ts';
export { startRelay } from './relay.ts';
export type { Relay, RelayOptions, RelaySide, RelayStats } from './relay.ts';
