/**
 * The terminal: permanent lines scroll above, live progress bars sit just above the prompt, and the
 * line being typed is redrawn after anything printed, so incoming messages never mangle it. When stdin
 * or stdout is not a terminal (pipes, logs, tests), it prints plain lines with no escape codes at all.
 */
import { clearScreenDown, createInterface, cursorTo, type Interface, moveCursor } from 'node:readline';

const PROMPT = '> ';

export interface ScreenHandlers {
  line(text: string): void;
  /** Ctrl-D on an empty line, or the end of piped input. */
  end(): void;
  /** Ctrl-C. */
  interrupt(): void;
}

export class Screen {
  readonly interactive: boolean;
  readonly #output: NodeJS.WriteStream;
  readonly #rl: Interface;
  readonly #bars = new Map<string, string>();
  #barRowsDrawn = 0;
  #closed = false;

  constructor(handlers: ScreenHandlers, input: NodeJS.ReadStream = process.stdin, output = process.stdout) {
    this.#output = output;
    this.interactive = Boolean(input.isTTY && output.isTTY);
    this.#rl = createInterface({
      input,
      output,
      terminal: this.interactive,
      prompt: PROMPT,
      historySize: 200,
    });
    this.#rl.on('line', (text) => {
      if (this.interactive) this.#eraseEcho(text);
      handlers.line(text);
      this.#redraw();
    });
    this.#rl.on('close', () => {
      if (!this.#closed) handlers.end();
    });
    this.#rl.on('SIGINT', () => handlers.interrupt());
  }

  /** Shows the prompt for the first time. */
  start(): void {
    if (this.interactive) this.#rl.prompt();
  }

  /** Prints a permanent line (or several, separated by newlines). */
  line(text: string): void {
    if (this.#closed) {
      this.#output.write(`${text}\n`);
      return;
    }
    if (!this.interactive) {
      this.#output.write(`${text}\n`);
      return;
    }
    this.#redraw(text);
  }

  bar(key: string, text: string): void {
    if (!this.interactive || this.#closed) return;
    this.#bars.set(key, text);
    this.#redraw();
  }

  endBar(key: string, text: string): void {
    this.#bars.delete(key);
    this.line(text);
  }

  close(): void {
    if (this.#closed) return;
    if (this.interactive) {
      this.#bars.clear();
      this.#clearLiveArea();
    }
    this.#closed = true;
    this.#rl.close();
  }

  /** Replaces what the terminal echoed for a typed line: the caller prints it in its own format. */
  #eraseEcho(text: string): void {
    const columns = this.#output.columns || 80;
    const rows = Math.max(1, Math.ceil((PROMPT.length + text.length) / columns));
    moveCursor(this.#output, 0, -rows);
    cursorTo(this.#output, 0);
    clearScreenDown(this.#output);
  }

  /** Erases the bars and the prompt line; leaves the cursor where the bars started. */
  #clearLiveArea(): void {
    const inputRows = this.#rl.getCursorPos().rows;
    moveCursor(this.#output, 0, -(this.#barRowsDrawn + inputRows));
    cursorTo(this.#output, 0);
    clearScreenDown(this.#output);
    this.#barRowsDrawn = 0;
  }

  #redraw(permanent?: string): void {
    if (!this.interactive || this.#closed) return;
    this.#clearLiveArea();
    if (permanent !== undefined) this.#output.write(`${permanent}\n`);
    const width = Math.max(20, (this.#output.columns || 80) - 1);
    for (const text of this.#bars.values()) this.#output.write(`${text.slice(0, width)}\n`);
    this.#barRowsDrawn = this.#bars.size;
    this.#rl.prompt(true);
  }
}
