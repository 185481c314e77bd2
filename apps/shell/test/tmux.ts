/**
 * Drives programs the way a person does: each runs in its own tmux session (a real terminal), keys are
 * typed with send-keys, and what the person would see is read with capture-pane. The tmux server runs on
 * a private socket, so other tmux users on the machine are neither seen nor disturbed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const POLL_MS = 100;
const EXIT_MARK = '[program exited with status ';

export class Tmux {
  readonly socket = `antt-shell-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  #started = false;

  /** Starts `argv` in a new session `name` (200 columns, so lines rarely wrap). */
  start(name: string, argv: readonly string[], cwd: string): void {
    if (!this.#started) {
      // A keeper session holds the server's global options: panes stay after their program exits.
      this.#tmux('new-session', '-d', '-s', 'keeper', 'sleep 100000');
      this.#tmux('set-option', '-g', 'remain-on-exit', 'on');
      this.#tmux('set-option', '-g', 'history-limit', '50000');
      this.#started = true;
    }
    // tmux does not always learn a program's exit status (the terminal may close first): print it.
    const command = `${argv.map(quote).join(' ')}; echo "${EXIT_MARK}$?]"`;
    this.#tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '50', '-c', cwd, command);
  }

  /** Types `text` and presses Enter. */
  type(name: string, text: string): void {
    this.#tmux('send-keys', '-t', name, '-l', text);
    this.#tmux('send-keys', '-t', name, 'Enter');
  }

  /** Presses a key such as 'C-c' or 'C-d'. */
  key(name: string, key: string): void {
    this.#tmux('send-keys', '-t', name, key);
  }

  /** Everything the session showed, wrapped lines joined. */
  screen(name: string): string {
    return this.#tmux('capture-pane', '-p', '-J', '-t', name, '-S', '-').replace(/\s+$/, '\n');
  }

  /** Where the screen ends now: pass to `waitFor` to look only at what appears afterwards. */
  mark(name: string): number {
    return this.screen(name).length;
  }

  /** Waits until `pattern` shows up after `since`; on timeout, fails with what the screen shows. */
  async waitFor(name: string, pattern: RegExp | string, timeoutMs: number, since = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.screen(name).slice(since);
      if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) return text;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${pattern} in ${name}; it shows:\n${text}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The process id of the program in session `name` (the child of the pane's shell). */
  pid(name: string): number {
    const shell = this.#tmux('display-message', '-p', '-t', name, '#{pane_pid}').trim();
    return Number(execFileSync('pgrep', ['-P', shell], { encoding: 'utf8' }).trim().split('\n')[0]);
  }

  /** The exit status once the program ended, else undefined. */
  exitStatus(name: string): number | undefined {
    const screen = this.screen(name);
    const at = screen.lastIndexOf(EXIT_MARK);
    if (at < 0) return undefined;
    return Number.parseInt(screen.slice(at + EXIT_MARK.length), 10);
  }

  async waitForExit(name: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = this.exitStatus(name);
      if (status !== undefined) return status;
      if (Date.now() > deadline)
        throw new Error(`${name} still runs after ${timeoutMs} ms:\n${this.screen(name)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Ends every program this instance started (SIGHUP through tmux) and the private server. */
  close(): void {
    if (!this.#started) return;
    try {
      this.#tmux('kill-server');
    } catch {
      // Already gone.
    }
    this.#started = false;
  }

  #tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', timeout: 10_000 });
  }
}

function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
