/**
 * The guest's TCP peer: peer-server.mjs running inside a lab namespace, and the transfer records it
 * prints (one per finished connection).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Namespace } from '../../../src/lab/index.ts';

/** One finished transfer as the peer saw it. */
export interface Transfer {
  op: 'get' | 'put' | 'bad' | 'unknown';
  /** The peer address the guest connected to (IPv4-mapped prefix removed). */
  local: string;
  bytes: number;
  sha256?: string;
  ms: number;
  error?: string;
}

export class PeerServer {
  readonly transfers: Transfer[] = [];
  readonly #child: ChildProcess;
  readonly ready: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    let buf = '';
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`peer-server exited (${code}) before listening`)));
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          const r = JSON.parse(line) as Transfer & { listening?: number };
          if (r.listening) resolve();
          else this.transfers.push({ ...r, local: r.local.replace(/^::ffff:/, '') });
        }
      });
    });
  }

  /** Starts the server on `port` (all addresses) inside `ns`. */
  static async start(ns: Namespace, port: number): Promise<PeerServer> {
    const child = ns.spawn(process.execPath, [join(new URL('.', import.meta.url).pathname, 'peer-server.mjs'), String(port)]);
    const s = new PeerServer(child);
    await s.ready;
    return s;
  }

  /** The transfers of one operation that reached this peer address. */
  find(op: 'get' | 'put', local: string): Transfer[] {
    return this.transfers.filter((t) => t.op === op && t.local === local);
  }

  stop(): void {
    if (this.#child.exitCode === null && this.#child.pid !== undefined) process.kill(this.#child.pid, 'SIGKILL');
  }
}
