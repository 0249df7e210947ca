/**
 * References to a network namespace as a *target* of a link (IFLA_NET_NS_FD / IFLA_NET_NS_PID):
 * a name under /run/netns, an absolute path to a netns file, a pid, or an open fd.
 */
import { closeSync, openSync } from 'node:fs';
import { InvalidArgumentError, systemError } from '../errors.ts';
import { IFLA } from '../netlink/constants.ts';
import type { MessageBuilder } from '../netlink/message.ts';
import { validateNetnsName } from './validate.ts';

/** A target namespace: name (`ns1`), path (`/run/netns/ns1`, `/proc/PID/ns/net`), `{ pid }` or `{ fd }`. */
export type NetnsRef = string | { pid: number } | { fd: number };

/** The common per-call option: run the operation inside this namespace (like `ip -n NS`). */
export interface NetnsOption {
  /** Namespace name (under /run/netns), /run/netns/NAME or /proc/PID/ns/net. Default: the caller's. */
  netns?: string;
}

/** Path of a named namespace (names without '/' live under /run/netns). */
export function netnsPath(ns: string): string {
  return ns.startsWith('/') ? ns : `/run/netns/${ns}`;
}

/** A path the addon's nlOpen can enter for this reference (to read the link back after a move). */
export function netnsRefPath(ref: NetnsRef): string {
  if (typeof ref === 'string') return netnsPath(ref);
  if ('pid' in ref) return `/proc/${ref.pid}/ns/net`;
  return `/proc/self/fd/${ref.fd}`;
}

/** Display form for messages. */
export function describeNetnsRef(ref: NetnsRef): string {
  if (typeof ref === 'string') return ref;
  if ('pid' in ref) return `pid ${ref.pid}`;
  return `fd ${ref.fd}`;
}

/** An attribute to put into a request, plus a release function for an fd we opened. */
export interface OpenedNetnsRef {
  attrType: number;
  value: number;
  release(): void;
}

/**
 * Validate a reference and open it: names and paths are opened read-only here (and closed by
 * `release`), pids and caller fds are passed as they are.
 */
export function openNetnsRef(ref: unknown, field = 'netns'): OpenedNetnsRef {
  if (typeof ref === 'string') {
    const path = netnsPath(validateNetnsName(ref, field));
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw systemError(-(e.errno !== undefined ? Math.abs(e.errno) : 2), 'open', {
        what: 'netns',
        ifname: ref,
        op: `open ${path}`,
      });
    }
    return { attrType: IFLA.NET_NS_FD, value: fd, release: () => closeSync(fd) };
  }
  if (ref && typeof ref === 'object') {
    const r = ref as { pid?: unknown; fd?: unknown };
    if (r.pid !== undefined) {
      if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 0) {
        throw new InvalidArgumentError(`${field}.pid`, 'a positive process id', r.pid);
      }
      return { attrType: IFLA.NET_NS_PID, value: r.pid, release: () => {} };
    }
    if (r.fd !== undefined) {
      if (typeof r.fd !== 'number' || !Number.isInteger(r.fd) || r.fd < 0) {
        throw new InvalidArgumentError(`${field}.fd`, 'an open file descriptor', r.fd);
      }
      return { attrType: IFLA.NET_NS_FD, value: r.fd, release: () => {} };
    }
  }
  throw new InvalidArgumentError(field, 'a namespace name, path, { pid } or { fd }', ref);
}

/** Write the target-namespace attribute of an opened reference into a message. */
export function putNetnsRef(b: MessageBuilder, r: OpenedNetnsRef): void {
  b.u32(r.attrType, r.value);
}
