/**
 * Running the lab's tools (`ip`, `nft`, `tc`, `sysctl`): every call bounded by a timeout, every failure a
 * {@link LabError} that names the command and quotes its stderr.
 */
import { execFile, execFileSync } from 'node:child_process';
import { AnttError, ErrorCode } from '@antt/core';

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const MAX_COMMAND_OUTPUT_BYTES = 8 * 1024 * 1024;

/** What went wrong in the lab; `code` (from @antt/core's ErrorCode) is the coarse family. */
export type LabFailure = 'unavailable' | 'command' | 'usage' | 'timeout' | 'agent';

const CODE_OF_FAILURE: Record<LabFailure, ErrorCode> = {
  unavailable: ErrorCode.NETWORK,
  command: ErrorCode.NETWORK,
  usage: ErrorCode.INVALID_ARGUMENT,
  timeout: ErrorCode.TIMEOUT,
  agent: ErrorCode.NETWORK,
};

/** The lab's errors: an AnttError whose `failure` says which part of the lab failed. */
export class LabError extends AnttError {
  readonly failure: LabFailure;

  constructor(failure: LabFailure, message: string, options?: { cause?: unknown }) {
    super(CODE_OF_FAILURE[failure], message, options);
    this.name = 'LabError';
    this.failure = failure;
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin (e.g. an nft ruleset for `nft -f -`). */
  input?: string;
  timeoutMs?: number;
}

function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].join(' ');
}

/** Runs a command to completion; rejects with a LabError on non-zero exit or timeout. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_COMMAND_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const command = describeCommand(file, args);
        if (error.killed || error.signal === 'SIGKILL') {
          return reject(new LabError('timeout', `\`${command}\` did not finish within ${timeoutMs} ms`));
        }
        const detail = stderr.trim() || error.message;
        reject(new LabError('command', `\`${command}\` failed: ${detail}`, { cause: error }));
      },
    );
    child.stdin?.on('error', () => {}); // the command may exit before reading all of its input
    child.stdin?.end(options.input ?? '');
  });
}

/** Like {@link runCommand} but resolves `undefined` instead of rejecting. */
export async function tryCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult | undefined> {
  try {
    return await runCommand(file, args, options);
  } catch {
    return undefined;
  }
}

/**
 * Synchronous variant for the places that cannot wait: the process 'exit' handler and Vitest's
 * synchronous `describe` collection. Returns stdout, or `undefined` on any failure.
 */
export function runCommandSync(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): string | undefined {
  try {
    return execFileSync(file, args, {
      input: options.input ?? '',
      timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      maxBuffer: MAX_COMMAND_OUTPUT_BYTES,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch {
    return undefined;
  }
}
