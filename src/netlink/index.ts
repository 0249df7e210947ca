/** Typed rtnetlink: message codec, ACK decoding and a socket client. */
export * from './constants.ts';
export * from './message.ts';
export * from './ack.ts';
export * from './socket.ts';
export * from './link-monitor.ts';
