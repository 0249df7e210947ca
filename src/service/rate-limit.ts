/** Rate-limited warnings: at most one line per key per interval, with the number suppressed. */
import type { Logger } from 'pino';

export class RateLimitedWarner {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly logger: () => Logger,
    private readonly intervalMs = 30_000,
  ) {}

  /** Log `msg` at warn level unless the same key was logged within the interval. */
  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const s = this.last.get(key);
    if (s && now - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    this.logger().warn({ ...fields, key, ...(s?.suppressed ? { suppressed: s.suppressed } : {}) }, s?.suppressed ? `${msg} (${s.suppressed} similar suppressed)` : msg);
  }
}
