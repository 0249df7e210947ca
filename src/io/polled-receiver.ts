/**
 * PolledReceiver: the receive lifecycle PacketPort and TapQueue share. It holds the closed/error
 * state and the recv() waiters, starts the native poll thread on first need, and turns the
 * thread's callbacks into waiter resolutions or a fatal error. What "readable" delivers (to
 * waiters or 'frames' listeners) and how the owner closes stay with the owner.
 */
import { systemError, type MacdemuxSystemError } from '../errors.ts';

/** What a receiver needs from its owner. */
export interface PollSource<B> {
  /** Names the owner in errors ('packet port', 'tap queue'). */
  readonly what: string;
  readonly ifname: string;
  /** The next ready batch without waiting, or null; throws on a dead device. */
  tryRecv(): B | null;
  /** Start the native poll thread with this callback; a negative errno on failure. */
  start(cb: (kind: number, arg: number) => void): number;
  /** Ask the poll thread for one readable callback. */
  arm(): void;
  /** Readable: deliver what is ready (see {@link PolledReceiver.waiting}); true to re-arm. */
  readable(): boolean;
  /** Fatal error; the waiters were already rejected: report it and close. */
  failed(err: MacdemuxSystemError): void;
}

export class PolledReceiver<B> {
  /** True after close() or a fatal error (owners set it when they close). */
  closed = false;
  /** The error that stopped the owner, if any. */
  error: MacdemuxSystemError | undefined;
  /** True once the native poll thread was started. */
  threadStarted = false;
  readonly #src: PollSource<B>;
  readonly #waiters: Array<{ resolve: (b: B | null) => void; reject: (e: Error) => void }> = [];

  constructor(src: PollSource<B>) {
    this.#src = src;
  }

  /** The next batch (waits on the native poll thread). Resolves null when closed. */
  recv(): Promise<B | null> {
    if (this.error) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve(null);
    let b;
    try {
      b = this.#src.tryRecv();
    } catch (e) {
      return Promise.reject(e);
    }
    if (b) return Promise.resolve(b);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#ensureThread();
      this.#src.arm();
    });
  }

  /** Batches from `next` (the owner's recv()) until it resolves null. */
  async *iterate(next: () => Promise<B | null>): AsyncIterableIterator<B> {
    for (;;) {
      const b = await next();
      if (!b) return;
      yield b;
    }
  }

  /** A 'frames' listener was added: start the thread and arm (in a microtask). */
  armSoon(): void {
    queueMicrotask(() => {
      this.#ensureThread();
      if (!this.closed) this.#src.arm();
    });
  }

  /** recv() calls waiting for a batch. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolve the oldest waiter with a batch. */
  deliver(b: B): void {
    this.#waiters.shift()!.resolve(b);
  }

  /** Resolve every waiter with null (the owner closed). */
  endWaiters(): void {
    for (const w of this.#waiters.splice(0)) w.resolve(null);
  }

  #ensureThread(): void {
    if (this.threadStarted || this.closed) return;
    this.threadStarted = true;
    const r = this.#src.start((kind, arg) => this.#onNative(kind, arg));
    if (r < 0) this.#fail(systemError(r, 'pthread_create', { what: this.#src.what, ifname: this.#src.ifname, op: 'start poll thread' }));
  }

  #onNative(kind: number, arg: number): void {
    if (this.closed) return;
    if (kind === 2) {
      this.#fail(systemError(arg, 'poll', { what: this.#src.what, ifname: this.#src.ifname, op: 'receive' }));
      return;
    }
    try {
      if (this.#src.readable() && !this.closed) this.#src.arm();
    } catch (e) {
      this.#fail(e as MacdemuxSystemError);
    }
  }

  /** Record the first fatal error, reject the waiters, let the owner report it and close. */
  #fail(err: MacdemuxSystemError): void {
    if (this.error) return;
    this.error = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.#src.failed(err);
  }
}
