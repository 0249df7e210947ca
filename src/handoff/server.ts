/**
 * The hypervisor fd hand-off: an unprivileged launcher connects to a unix socket, names an endpoint
 * and a queue count, and receives that many open queue fds of the endpoint's tap (SCM_RIGHTS) to
 * pass to QEMU (`-netdev tap,fds=3:4`): a kernel macvtap's (src/service/vm-nodes.ts) or a userspace
 * VM port's tap (./vm-tap.ts). The pattern libvirt uses: the privileged side opens the
 * devices, the hypervisor only ever gets fds. Authorisation is per endpoint: the peer's uid/gid as the
 * kernel recorded them at connect() (SO_PEERCRED) must be root, the endpoint's owner, or a member of
 * its group (primary gid, or a supplementary group listed in /proc/PID/status of the peer).
 *
 * Protocol (one request per connection, newline-terminated JSON both ways):
 *   request:  {"endpoint":"vm1","queues":2}
 *   answer:   {"ok":true,"endpoint":"vm1","queues":2,"ifname":"mvt0","mac":"52:54:..","vnetHdr":true}
 *             sent in the same sendmsg as the queue fds, or {"ok":false,"error":"...","code"?:"EBUSY"}
 *             without fds.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { native } from '../native.ts';
import { systemError } from '../errors.ts';

/** What the hand-off needs of one endpoint. */
export interface HandoffEndpoint {
  /** uid allowed to receive the fds (besides root). */
  owner?: number;
  /** gid whose members may receive them. */
  group?: number;
  ifname: string;
  mac?: string;
  /** Opens `queues` queue fds (the caller closes them after sending). */
  open(queues: number): Promise<number[]>;
}

/** Looks an endpoint up by name (undefined: no such endpoint). */
export type HandoffResolver = (endpoint: string) => HandoffEndpoint | undefined;

/** Who is on the other end of a unix socket. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

interface FdNative {
  unixPeerCred(fd: number): [number, number, number] | number;
  unixSendFds(fd: number, fds: number[], data: Uint8Array): number;
}
const fdNative = (): FdNative => native() as unknown as FdNative;

/** The fd of a connected net.Socket (libuv's; used only while nothing else writes to it). */
function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('hand-off: the connection has no file descriptor');
  return fd;
}

/** SO_PEERCRED of a connected unix socket. */
export function peerCred(sock: Socket): PeerCred {
  const r = fdNative().unixPeerCred(socketFd(sock));
  if (typeof r === 'number') throw systemError(r, 'getsockopt(SO_PEERCRED)');
  return { pid: r[0], uid: r[1], gid: r[2] };
}

/** Supplementary groups of a live process (/proc/PID/status "Groups:"). */
function groupsOf(pid: number): number[] {
  try {
    const m = /^Groups:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]!.trim().split(/\s+/).filter(Boolean).map(Number) : [];
  } catch {
    return [];
  }
}

/** Why `cred` may not have the endpoint's fds, or undefined when it may. */
export function denyReason(cred: PeerCred, ep: HandoffEndpoint): string | undefined {
  if (cred.uid === 0) return undefined;
  if (ep.owner !== undefined && cred.uid === ep.owner) return undefined;
  if (ep.group !== undefined && (cred.gid === ep.group || groupsOf(cred.pid).includes(ep.group))) return undefined;
  const who = [ep.owner !== undefined ? `uid ${ep.owner}` : '', ep.group !== undefined ? `group ${ep.group}` : ''].filter(Boolean).join(' or ');
  return `uid ${cred.uid} (gid ${cred.gid}) may not take this endpoint's queues (${who ? `allowed: root, ${who}` : 'no owner/group configured: root only'})`;
}

const MAX_QUEUES = 16;

/** Serves hand-off requests on `path` (mode 0666: access is decided per endpoint by peer credentials). */
export async function serveHandoff(path: string, resolve: HandoffResolver, log?: (event: Record<string, unknown>) => void): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    const answer = (obj: Record<string, unknown>, fds: number[] = []): void => {
      const data = Buffer.from(`${JSON.stringify(obj)}\n`);
      if (fds.length) {
        const n = fdNative().unixSendFds(socketFd(sock), fds, data);
        for (const fd of fds) closeSync(fd);
        if (n < 0) log?.({ event: 'handoff.send-failed', errno: -n });
        sock.end();
      } else sock.end(data);
    };
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) answer({ ok: false, error: 'request too long' });
        return;
      }
      sock.pause();
      void handle(buf.slice(0, nl));
    });
    const handle = async (line: string): Promise<void> => {
      let req: { endpoint?: unknown; queues?: unknown };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        return answer({ ok: false, error: 'expected one JSON line {"endpoint":NAME,"queues":N}' });
      }
      const queues = req.queues === undefined ? 1 : req.queues;
      if (typeof req.endpoint !== 'string') return answer({ ok: false, error: 'endpoint: expected a name' });
      if (!Number.isInteger(queues) || (queues as number) < 1 || (queues as number) > MAX_QUEUES)
        return answer({ ok: false, error: `queues: expected an integer 1..${MAX_QUEUES}` });
      let cred: PeerCred;
      try {
        cred = peerCred(sock);
      } catch (err) {
        return answer({ ok: false, error: (err as Error).message });
      }
      const ep = resolve(req.endpoint);
      // the same answer for "no such endpoint" and "not yours" would hide names; names are not secret here
      if (!ep) return answer({ ok: false, error: `no endpoint "${req.endpoint}" with a tap` });
      const deny = denyReason(cred, ep);
      if (deny) {
        log?.({ event: 'handoff.denied', endpoint: req.endpoint, uid: cred.uid, gid: cred.gid, pid: cred.pid });
        return answer({ ok: false, error: deny });
      }
      let fds: number[];
      try {
        fds = await ep.open(queues as number);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        return answer({ ok: false, error: `opening ${ep.ifname}: ${(err as Error).message}`, ...(typeof code === 'string' ? { code } : {}) });
      }
      log?.({ event: 'handoff.sent', endpoint: req.endpoint, queues, uid: cred.uid, pid: cred.pid });
      answer({ ok: true, endpoint: req.endpoint, queues, ifname: ep.ifname, ...(ep.mac ? { mac: ep.mac } : {}), vnetHdr: true }, fds);
    };
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => {
      server.off('error', rej);
      res();
    });
  });
  chmodSync(path, 0o666);
  return server;
}
