/**
 * A transfer's progress: bytes, rate and time left. On a terminal it redraws one line (at most every
 * REDRAW_MS); elsewhere (a pipe, a log file) it writes one line at each 10 %.
 */
import { formatBytes, formatDuration, formatElapsed, formatRate } from './format.js';

const REDRAW_MS = 100;
/** The rate shown is measured over about this window, so it follows changes without flickering. */
const RATE_WINDOW_MS = 3_000;

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #out: ProgressOutput;
  readonly #startedAt = performance.now();
  readonly #samples: { at: number; bytes: number }[] = [];
  #bytes = 0;
  #drawnAt = 0;
  #tenths = 0;
  #drawn = false;

  constructor(label: string, total: number, out: ProgressOutput) {
    this.#label = label;
    this.#total = total;
    this.#out = out;
    this.#samples.push({ at: this.#startedAt, bytes: 0 });
  }

  get elapsedMs(): number {
    return performance.now() - this.#startedAt;
  }

  add(bytes: number): void {
    this.#bytes += bytes;
    const now = performance.now();
    if (this.#out.isTTY) {
      if (now - this.#drawnAt >= REDRAW_MS) this.#draw(now);
      return;
    }
    const tenths = this.#total > 0 ? Math.floor((this.#bytes / this.#total) * 10) : 10;
    while (this.#tenths < Math.min(tenths, 9)) {
      this.#tenths++;
      this.#out.write(`${this.#line(now)}\n`);
    }
  }

  /** Removes the live line so the final message can take its place. */
  clear(): void {
    if (this.#out.isTTY && this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }

  /** "760.0 MiB in 8.9 s (85.3 MiB/s)". */
  summary(): string {
    const ms = this.elapsedMs;
    return `${formatBytes(this.#bytes)} in ${formatElapsed(ms)} (${formatRate(this.#bytes / Math.max(ms / 1000, 0.001))})`;
  }

  #draw(now: number): void {
    this.#drawnAt = now;
    this.#drawn = true;
    this.#out.write(`\r\x1b[2K${this.#line(now)}`);
  }

  #line(now: number): string {
    this.#samples.push({ at: now, bytes: this.#bytes });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const seconds = (now - first.at) / 1000;
    const rate = seconds > 0 ? (this.#bytes - first.bytes) / seconds : 0;
    const fraction = this.#total > 0 ? Math.min(1, this.#bytes / this.#total) : 1;
    const eta = rate > 0 ? (this.#total - this.#bytes) / rate : Number.NaN;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const numbers = `${formatBytes(this.#bytes)} / ${formatBytes(this.#total)}  ${formatRate(rate)}  ETA ${formatDuration(eta)}`;
    if (!this.#out.isTTY) return `${this.#label} ${percent}  ${numbers}`;
    const columns = this.#out.columns ?? 80;
    const barWidth = Math.max(0, Math.min(30, columns - this.#label.length - numbers.length - 12));
    const filled = Math.round(fraction * barWidth);
    const bar = barWidth > 5 ? ` [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]` : '';
    return `${this.#label} ${percent}${bar}  ${numbers}`.slice(0, columns - 1);
  }
}
