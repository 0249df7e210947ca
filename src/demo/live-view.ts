/**
 * The demo's live view: per-port packet rates and drops. On a TTY the block is redrawn in place
 * (a few times a second); otherwise one line a second.
 */
export interface LiveSnapshot {
  title: string;
  elapsedS: number;
  totalS: number;
  offeredPps: number;
  /** Frames offered but not delivered so far in this phase (ring/backlog overflow anywhere on the path). */
  lost: number;
  ports: Array<{ port: string; mac: string; pps: number; drops: number }>;
}

const mpps = (x: number): string => `${(x / 1e6).toFixed(3)} Mpps`;

export class LiveView {
  private drawn = 0;
  private lastLine = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled = true,
  ) {}

  /** Render a snapshot. */
  update(s: LiveSnapshot): void {
    if (!this.enabled) return;
    const fwd = s.ports.reduce((a, p) => a + p.pps, 0);
    if (this.out.isTTY) {
      const lines = [
        `${s.title}  ${s.elapsedS.toFixed(1)}/${s.totalS} s   offered ${mpps(s.offeredPps)}   forwarded ${mpps(fwd)}   lost ${s.lost}`,
        `  ${'port'.padEnd(6)} ${'mac'.padEnd(17)} ${'rate'.padStart(14)} ${'drops'.padStart(10)}`,
        ...s.ports.map((p) => `  ${p.port.padEnd(6)} ${p.mac.padEnd(17)} ${mpps(p.pps).padStart(14)} ${String(p.drops).padStart(10)}`),
      ];
      if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
      this.out.write(lines.map((l) => `\r\x1b[K${l}`).join('\n') + '\n');
      this.drawn = lines.length;
    } else {
      const now = Date.now();
      if (now - this.lastLine < 1000) return;
      this.lastLine = now;
      const ports = s.ports.map((p) => `${p.port} ${(p.pps / 1e6).toFixed(3)} (drops ${p.drops})`).join(' | ');
      this.out.write(`[${s.title} ${s.elapsedS.toFixed(0)}s] offered ${mpps(s.offeredPps)} fwd ${mpps(fwd)} lost ${s.lost} | ${ports}\n`);
    }
  }

  /** End the current block (the next update starts a new one). */
  finish(): void {
    this.drawn = 0;
    this.lastLine = 0;
  }
}
