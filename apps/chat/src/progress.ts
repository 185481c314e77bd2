/**
 * Progress of one file transfer: the text of a bar for terminals, and a line per 10 % for logs and
 * pipes (where a redrawn bar would be noise).
 */
import { clock, formatBytes, formatDuration, formatRate } from './format.js';

const BAR_CELLS = 24;
/** Redrawing a terminal line more often than this only costs CPU. */
const REDRAW_INTERVAL_MS = 100;

export interface ProgressSink {
  /** Draws or replaces the bar under `key` (terminals only). */
  bar(key: string, text: string): void;
  /** Removes the bar under `key` and prints `line` for good. */
  endBar(key: string, line: string): void;
  /** Prints a line for good. */
  line(text: string): void;
  readonly interactive: boolean;
}

export class Progress {
  readonly #key = `progress-${Math.random()}`;
  readonly #label: string;
  readonly #total: number;
  readonly #sink: ProgressSink;
  readonly #startedAt = performance.now();
  #lastDrawAt = 0;
  #lastTenth = 0;
  #done = 0;

  constructor(label: string, total: number, sink: ProgressSink) {
    this.#label = label;
    this.#total = total;
    this.#sink = sink;
    if (sink.interactive) sink.bar(this.#key, this.text());
  }

  get elapsedMs(): number {
    return performance.now() - this.#startedAt;
  }

  update(done: number): void {
    this.#done = done;
    const now = performance.now();
    if (this.#sink.interactive) {
      if (now - this.#lastDrawAt < REDRAW_INTERVAL_MS && done < this.#total) return;
      this.#lastDrawAt = now;
      this.#sink.bar(this.#key, this.text());
      return;
    }
    const tenth = this.#total === 0 ? 10 : Math.floor((done / this.#total) * 10);
    if (tenth > this.#lastTenth && tenth < 10) {
      this.#lastTenth = tenth;
      this.#sink.line(`${clock()} -- ${this.#label}: ${tenth * 10}% (${this.#amounts()})`);
    }
  }

  /** Ends the bar and prints `line` in its place. */
  finish(line: string): void {
    const stamped = `${clock()} -- ${line}`;
    if (this.#sink.interactive) this.#sink.endBar(this.#key, stamped);
    else this.#sink.line(stamped);
  }

  text(): string {
    const fraction = this.#total === 0 ? 1 : Math.min(1, this.#done / this.#total);
    const filled = Math.round(fraction * BAR_CELLS);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}]`;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `${this.#label} ${bar} ${percent}  ${this.#amounts()}`;
  }

  #amounts(): string {
    const seconds = this.elapsedMs / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const left = this.#total - this.#done;
    const eta = rate > 0 && left > 0 ? `, ${formatDuration((left / rate) * 1000)} left` : '';
    return `${formatBytes(this.#done)} of ${formatBytes(this.#total)}, ${formatRate(rate)}${eta}`;
  }
}
