/**
 * Drives programs in tmux panes as a person would: type with send-keys, read the screen with
 * capture-pane. Every session lives on a private tmux server (its own socket), removed in teardown.
 */
import { execFileSync, spawnSync } from 'node:child_process';

const POLL_MS = 100;

export function tmuxAvailable(): boolean {
  return spawnSync('tmux', ['-V']).status === 0;
}

export class TmuxServer {
  readonly socket = `antt-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** Runs `command` (argv) in a new 120x40 session; the pane stays after it exits and shows the status. */
  start(name: string, command: string[], options: { cwd: string; env?: Record<string, string> }): Pane {
    const quoted = command.map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
    const env = Object.entries(options.env ?? {}).map(
      ([key, value]) => `${key}='${value.replace(/'/g, "'\\''")}'`,
    );
    const script = `${env.join(' ')} ${quoted}; echo "[exited $?]"; sleep 600`;
    this.tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '120',
      '-y',
      '40',
      '-c',
      options.cwd,
      'sh',
      '-c',
      script,
    );
    return new Pane(this, name);
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}

export class Pane {
  readonly #server: TmuxServer;
  readonly name: string;

  constructor(server: TmuxServer, name: string) {
    this.#server = server;
    this.name = name;
  }

  /** Types `text` literally, then Enter. */
  type(text: string): void {
    this.#server.tmux('send-keys', '-t', this.name, '-l', text);
    this.#server.tmux('send-keys', '-t', this.name, 'Enter');
  }

  keys(...keys: string[]): void {
    this.#server.tmux('send-keys', '-t', this.name, ...keys);
  }

  /** The whole scrollback, wrapped lines joined. */
  screen(): string {
    return this.#server.tmux('capture-pane', '-p', '-J', '-S', '-500', '-t', this.name);
  }

  /** Resolves with the screen once `pattern` shows up; rejects with the screen after `timeoutMs`. */
  async waitFor(pattern: RegExp | string, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (typeof pattern === 'string' ? screen.includes(pattern) : pattern.test(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(
          `pane ${this.name}: no ${String(pattern)} within ${timeoutMs} ms. Screen:\n${screen}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The pid of the program the pane's shell runs (the shell's child). */
  programPid(): number {
    const shell = this.#server.tmux('display-message', '-p', '-t', this.name, '#{pane_pid}').trim();
    const child = execFileSync('pgrep', ['-P', shell], { encoding: 'utf8' }).trim().split('\n')[0];
    return Number(child);
  }

  close(): void {
    spawnSync('tmux', ['-L', this.#server.socket, 'kill-session', '-t', this.name]);
  }
}
