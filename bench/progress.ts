/**
 * Live progress on stderr: a status line redrawn in place on a TTY (at most 1 line a second
 * otherwise), plus permanent lines for finished steps.
 */
export class Progress {
  private lastPlain = 0;
  private shown = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  /** Transient status (redrawn). */
  status(text: string): void {
    if (!this.enabled) return;
    if (this.tty) {
      this.out.write(`\r\x1b[K${text.slice(0, (this.out.columns || 120) - 1)}`);
      this.shown = true;
    } else {
      const now = Date.now();
      if (now - this.lastPlain >= 1000) {
        this.lastPlain = now;
        this.out.write(`${text}\n`);
      }
    }
  }

  /** Permanent line. */
  line(text: string): void {
    if (!this.enabled) return;
    if (this.tty && this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
    this.out.write(`${text}\n`);
  }

  /** Clear the status line. */
  done(): void {
    if (this.enabled && this.tty && this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}

/** `1.234 Mpps` / `12.3 kpps`. */
export function fmtPps(pps: number | null | undefined): string {
  if (pps === null || pps === undefined || !Number.isFinite(pps)) return '-';
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(3)} Mpps`;
  if (pps >= 1e3) return `${(pps / 1e3).toFixed(1)} kpps`;
  return `${pps.toFixed(0)} pps`;
}
