import { formatCount } from './numbers.js';

/** Where progress goes: stderr, or a stand-in with the same two members. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** The input's size: the display then shows a bar and a percentage. */
  totalBytes?: number;
  stream?: ProgressStream;
  /** Milliseconds since some origin; performance.now by default (injectable, so tests need no timing). */
  now?: () => number;
  /** How often a line is printed when the stream is not a terminal (a log, CI, a pipe). */
  logEveryMs?: number;
}

/** A terminal's live line is redrawn at most this often. */
const REDRAW_MS = 200;
const LOG_EVERY_MS = 5_000;

/**
 * Progress on stderr. On a terminal, one live line redrawn in place; otherwise (a log file, CI, a
 * pipe) a plain line every few seconds, so a long run is never silent and a log is never flooded.
 */
export class Progress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly live: boolean;
  private readonly every: number;
  private readonly started: number;
  private lastDraw: number;
  private drawn = false;

  constructor(private readonly label: string, private readonly options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.live = this.stream.isTTY ?? false;
    this.every = this.live ? REDRAW_MS : (options.logEveryMs ?? LOG_EVERY_MS);
    this.started = this.now();
    // Logged lines start one interval in: a short command prints none.
    this.lastDraw = this.live ? -Infinity : this.started;
  }

  update(count: number, unit: string, bytes?: number): void {
    const now = this.now();
    if (now - this.lastDraw < this.every) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(count / seconds) : 0;
    const share = this.options.totalBytes && bytes !== undefined ? Math.min(1, bytes / this.options.totalBytes) : undefined;
    const counted = `${formatCount(count)} ${unit} (${formatCount(rate)}/s)`;
    if (this.live) {
      const width = 24;
      const bar = share === undefined ? '' : ` [${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(0).padStart(3)}%`;
      this.stream.write(`\r\x1b[2K${this.label}${bar} ${counted}`);
      this.drawn = true;
    } else {
      const percent = share === undefined ? '' : `, ${(share * 100).toFixed(0)}% of the input`;
      this.stream.write(`${this.label}: ${counted}${percent} after ${Math.round(seconds)} s\n`);
    }
  }

  /** Clears the live line; a logged line stays. */
  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
  }
}
