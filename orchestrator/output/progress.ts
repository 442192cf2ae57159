/** A one-line progress display on stderr, drawn only when stderr is a terminal. */
export class Progress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = false;
  // Typed boolean, but undefined when stderr is not a terminal.
  private readonly enabled = (process.stderr.isTTY as boolean | undefined) ?? false;

  constructor(private readonly label: string, private readonly totalBytes?: number) {}

  update(count: number, unit: string, bytes?: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(count / seconds) : 0;
    let bar = '';
    if (this.totalBytes && bytes !== undefined) {
      const share = Math.min(1, bytes / this.totalBytes);
      const width = 24;
      bar = ` [${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(0).padStart(3)}%`;
    }
    process.stderr.write(`\r\x1b[2K${this.label}${bar} ${count.toLocaleString('en-US')} ${unit} (${rate.toLocaleString('en-US')}/s)`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[2K');
  }
}
