#!/usr/bin/env node
/**
 * `antt-chat`: chat and send files with one other person over Antt. Run `antt-chat --help`.
 * Every failure a person can cause ends in one line on stderr, never a stack trace (set ANTT_DEBUG=1 to
 * see one).
 */
import { AnttError } from '@antt/core';
import { helpText, PROGRAM, parseChatArgs, UsageError } from './cli-options.js';
import { Screen } from './screen.js';
import { securityOptions } from './security.js';
import { ChatSession } from './session.js';
import { tcpRole } from './transport.js';

/** After /quit, whatever still holds the event loop open gets this long. */
const EXIT_GRACE_MS = 2_000;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseChatArgs>;
  try {
    parsed = parseChatArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${PROGRAM}: ${error.message} (see ${PROGRAM} --help)\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  const options = parsed.options;
  const security = await securityOptions(options);
  const role =
    options.transport === 'tcp' && options.peer ? await tcpRole(options.localPort, options.peer) : undefined;

  let session: ChatSession | undefined;
  let interrupts = 0;
  const screen = new Screen({
    line: (text) => session?.handleInput(text),
    end: () => void session?.quit(0),
    interrupt: () => {
      // A second Ctrl-C while leaving means "now".
      if (++interrupts > 1) process.exit(130);
      void session?.quit(0);
    },
  });
  session = new ChatSession(options, security, role, screen);
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
    process.on(signal, () => void session.quit(0));
  }
  screen.start();
  const status = await session.run();
  screen.close();
  return status;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
    setTimeout(() => process.exit(status), EXIT_GRACE_MS).unref();
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const hint = AnttError.is(error) ? '' : ' (this is a bug in antt-chat; ANTT_DEBUG=1 shows where)';
    process.stderr.write(`${PROGRAM}: ${message}${hint}\n`);
    if (process.env.ANTT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
