/**
 * A process running inside a lab namespace (`ip netns exec NS ...`): its output, its exit, and a bounded
 * way to wait for a line of output.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { LabError } from './command.js';

/** Output kept per stream; older text is discarded beyond this. */
const MAX_KEPT_OUTPUT_CHARS = 1024 * 1024;
const DEFAULT_WAIT_MS = 10_000;
const STOP_GRACE_MS = 2_000;

export interface ExecOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the process (SIGKILL) if it is still running after this long. */
  timeoutMs?: number;
  /** Keep stdout/stderr text for `stdout`/`stderr` and {@link LabProcess.waitForOutput} (default true). */
  collectOutput?: boolean;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

type Stream = 'stdout' | 'stderr';

export class LabProcess {
  readonly namespace: string;
  readonly command: readonly string[];
  readonly child: ChildProcessWithoutNullStreams;
  /** Settles when the process has exited; never rejects (a spawn failure is exit code null). */
  readonly exited: Promise<ProcessExit>;
  #output: Record<Stream, string> = { stdout: '', stderr: '' };
  #partial: Record<Stream, string> = { stdout: '', stderr: '' };
  #lineListeners = new Set<(line: string, stream: Stream) => void>();
  #exit: ProcessExit | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(namespace: string, command: readonly string[], options: ExecOptions = {}) {
    if (command.length === 0) throw new LabError('usage', 'exec needs a command');
    this.namespace = namespace;
    this.command = command;
    const collect = options.collectOutput ?? true;
    this.child = spawn('ip', ['netns', 'exec', namespace, ...command], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream].setEncoding('utf8');
      this.child[stream].on('data', (chunk: string) => this.#onData(stream, chunk, collect));
    }
    this.child.stdin.on('error', () => {}); // writing to a process that exited is not our caller's crash
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.#output.stderr += `spawn failed: ${error.message}\n`;
        this.#finish({ code: null, signal: null }, resolve);
      });
      this.child.once('close', (code, signal) => this.#finish({ code, signal }, resolve));
    });
    if (options.timeoutMs !== undefined) {
      this.#timer = setTimeout(() => this.kill('SIGKILL'), options.timeoutMs);
      this.#timer.unref();
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdout(): string {
    return this.#output.stdout;
  }

  get stderr(): string {
    return this.#output.stderr;
  }

  /** The exit status once exited, else undefined. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /** Calls `listener` for every complete line of output; returns its remover. */
  onLine(listener: (line: string, stream: Stream) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  write(text: string): void {
    if (this.#exit === undefined) this.child.stdin.write(text);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exit === undefined) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves on exit. */
  async stop(graceMs = STOP_GRACE_MS): Promise<ProcessExit> {
    if (this.#exit) return this.#exit;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves with the first line (already printed or yet to come) that matches; rejects on timeout, abort,
   * or exit without a match, quoting the output so far.
   */
  waitForOutput(
    pattern: string | RegExp,
    options: { timeoutMs?: number; signal?: AbortSignal; stream?: Stream | 'both' } = {},
  ): Promise<string> {
    options.signal?.throwIfAborted();
    const stream = options.stream ?? 'both';
    const matches = (line: string, from: Stream) =>
      (stream === 'both' || stream === from) &&
      (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    for (const from of ['stdout', 'stderr'] as const) {
      const found = this.#output[from].split('\n').find((line) => matches(line, from));
      if (found !== undefined) return Promise.resolve(found);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise((resolve, reject) => {
      if (this.#exit) {
        const tail = `${this.stdout}${this.stderr}`.slice(-2000);
        const why = `exited (${JSON.stringify(this.#exit)}) without printing ${pattern}; output:\n${tail}`;
        return reject(new LabError('timeout', `${this.#describe()} ${why}`));
      }
      const fail = (why: string) => {
        done();
        const tail = `${this.stdout}${this.stderr}`.slice(-2000);
        reject(
          new LabError('timeout', `${this.#describe()} ${why} before printing ${pattern}; output:\n${tail}`),
        );
      };
      const timer = setTimeout(() => fail(`did not match within ${timeoutMs} ms`), timeoutMs);
      const onAbort = () => fail('was aborted');
      const removeLine = this.onLine((line, from) => {
        if (!matches(line, from)) return;
        done();
        resolve(line);
      });
      const onExit = () => fail(`exited (${JSON.stringify(this.#exit)})`);
      const done = () => {
        clearTimeout(timer);
        removeLine();
        options.signal?.removeEventListener('abort', onAbort);
        this.child.off('close', onExit);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.child.once('close', onExit);
    });
  }

  #describe(): string {
    return `\`${this.command.join(' ').slice(0, 120)}\` in ${this.namespace}`;
  }

  #onData(stream: Stream, chunk: string, collect: boolean): void {
    if (collect) {
      const kept = this.#output[stream] + chunk;
      this.#output[stream] = kept.length > MAX_KEPT_OUTPUT_CHARS ? kept.slice(-MAX_KEPT_OUTPUT_CHARS) : kept;
    }
    const lines = (this.#partial[stream] + chunk).split('\n');
    this.#partial[stream] = lines.pop() ?? '';
    if (this.#lineListeners.size === 0) return;
    for (const line of lines) for (const listener of [...this.#lineListeners]) listener(line, stream);
  }

  #finish(exit: ProcessExit, resolve: (exit: ProcessExit) => void): void {
    if (this.#exit) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const last = this.#partial[stream];
      this.#partial[stream] = '';
      if (last) for (const listener of [...this.#lineListeners]) listener(last, stream);
    }
    this.#exit = exit;
    clearTimeout(this.#timer);
    resolve(exit);
  }
}
