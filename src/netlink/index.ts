/** Typed netlink: message codec, ACK decoding, a socket client (rtnetlink, generic netlink), ethtool features. */
export * from './constants.ts';
export * from './message.ts';
export * from './ack.ts';
export * from './socket.ts';
export * from './link-monitor.ts';
export * from './genetlink.ts';
export * from './ethtool.ts';
