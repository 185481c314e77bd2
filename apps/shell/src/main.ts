#!/usr/bin/env node
/**
 * antt-shell: `serve` a shell and files to one authenticated peer, or `connect` to one. Bad arguments
 * are one line on stderr and exit status 2; failures at run time are one line and status 1. Set
 * ANTT_DEBUG=1 to see stack traces.
 */
import { AnttError, ErrorCode } from '@antt/core';
import { Identity } from '@antt/secure';
import { type Command, PROGRAM, parseCommandLine, UsageError } from './cli.js';
import { connectShell } from './client.js';
import { serve, timestampedLog } from './server.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<number> {
  let command: Command;
  let identity: Identity;
  try {
    command = parseCommandLine(argv);
    if (command.mode === 'help') {
      process.stdout.write(`${command.text}\n`);
      return 0;
    }
    identity = await loadIdentity(command.identityPath);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${PROGRAM}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (command.mode === 'connect') {
    return connectShell(command, identity, {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
    });
  }
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return serve(
    command,
    identity,
    stop.signal,
    timestampedLog((text) => process.stdout.write(text)),
  );
}

async function loadIdentity(path: string): Promise<Identity> {
  try {
    return await Identity.loadOrCreate(path);
  } catch (error) {
    if (AnttError.is(error)) throw new UsageError(`--identity: ${error.message}`);
    throw error;
  }
}

function describe(error: unknown): string {
  if (AnttError.is(error) && error.code === ErrorCode.NETWORK && /EADDRINUSE/.test(error.message)) {
    return `${error.message}: another program uses that port; pick another --port`;
  }
  return error instanceof Error ? error.message : String(error);
}

function fail(error: unknown): void {
  process.stderr.write(`${PROGRAM}: ${describe(error)}\n`);
  if (process.env.ANTT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(EXIT_FAILURE);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
  // Sockets and timers of a finished session must not keep the process alive.
  setTimeout(() => process.exit(status), 200).unref();
}, fail);
