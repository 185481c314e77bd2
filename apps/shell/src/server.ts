/**
 * `antt-shell serve`: wait for the peer, authenticate it, serve one session, and wait again. Every
 * session event and every refusal goes to the log (stdout) with a timestamp and the peer's id.
 */
import { AnttError, type Connection, ErrorCode, formatAddress } from '@antt/core';
import type { Identity } from '@antt/secure';
import { PROGRAM, type ServeConfig } from './cli.js';
import { PASSPHRASE_MISMATCH, PASSPHRASE_ON_ONE_SIDE } from './client.js';
import { openConnection, pathOf, peerInfo } from './connection.js';
import { greetClient, RefusedError } from './greeting.js';
import { Jail } from './jail.js';
import {
  describeMeeting,
  describePath,
  describeStageFailure,
  otherSideOptions,
  STAGE_PREFIX,
  stageOf,
} from './meeting.js';
import { ProtocolMessageError } from './protocol.js';
import { Session } from './session.js';

/** Each connect attempt waits this long before the next begins (the peer may come any time). */
const ATTEMPT_MS = 10_000;
/**
 * Through a rendezvous, once its server has answered, one attempt waits this long for a client: the
 * server says when one comes, and a new registration every few seconds would only race its lookup.
 */
const RENDEZVOUS_ATTEMPT_MS = 10 * 60_000;
/** Pause after a failed attempt that ended early (refused peer), so a misconfigured client cannot spin us. */
const RETRY_PAUSE_MS = 1_000;

/** After a session, how long the local port may stay busy while its socket closes. */
const PORT_RELEASE_MS = 5_000;
const PORT_RETRY_MS = 100;

export type Log = (line: string) => void;

export function timestampedLog(write: (text: string) => void): Log {
  return (line) => write(`${new Date().toISOString()} ${line}\n`);
}

export async function serve(
  config: ServeConfig,
  identity: Identity,
  signal: AbortSignal,
  log: Log,
): Promise<number> {
  const jail = await Jail.open(config.root);
  const rendezvous = config.rendezvous;
  const peerAddress = rendezvous ? describeMeeting(rendezvous) : formatAddress(config.peer!);
  const auth = [
    config.passphrase !== undefined ? 'passphrase' : undefined,
    config.allowedPeers.length > 0 ? `${config.allowedPeers.length} allowed peer id(s)` : undefined,
  ]
    .filter(Boolean)
    .join(' + ');
  log(
    `${PROGRAM} serve: this server's peer id is ${identity.peerId} (identity ${config.identityPath}); clients can check it with --peer-id`,
  );
  const where = rendezvous
    ? `through rendezvous ${rendezvous.serverText} as "${rendezvous.name}"`
    : `on port ${config.port}`;
  log(
    `serving ${jail.root} over ${config.transport} ${where}; commands ${config.exec ? 'allowed' : 'off (--no-exec)'}; clients must have: ${auth}`,
  );
  const there = rendezvous
    ? `${PROGRAM} connect ${otherSideOptions(rendezvous)} ...`
    : `${PROGRAM} connect --port ${config.peer!.port} --peer <this host>:${config.port} ...`;
  // Said once per cause: the same failure with other counts or times is not news.
  let lastProblem = '';
  const logProblem = (line: string): void => {
    if (line.replace(/\d+/g, '#') !== lastProblem.replace(/\d+/g, '#')) log(line);
    lastProblem = line;
  };
  let serverAnswered = false;
  let deadline =
    config.connectTimeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + config.connectTimeoutMs;
  let announced = false;
  let portReleaseUntil = 0;
  while (!signal.aborted) {
    if (!announced) {
      log(`waiting for ${peerAddress} (there: ${there})`);
      announced = true;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const within = `within --connect-timeout ${config.connectTimeoutMs! / 1000} s; stopping`;
      log(
        rendezvous && !serverAnswered
          ? `the rendezvous server ${rendezvous.serverText} did not answer ${within}`
          : `nobody came ${within}`,
      );
      return 1;
    }
    let connection: Connection;
    try {
      connection = await openConnection({
        mode: 'serve',
        transport: config.transport,
        localPort: config.port,
        peer: config.peer,
        rendezvous,
        security: { identity, passphrase: config.passphrase, allowedPeers: config.allowedPeers },
        timeoutMs: Math.min(rendezvous && serverAnswered ? RENDEZVOUS_ATTEMPT_MS : ATTEMPT_MS, left),
        signal,
      });
    } catch (error) {
      if (signal.aborted) break;
      const code = AnttError.is(error) ? error.code : undefined;
      const stage = stageOf(error);
      if (stage !== undefined && stage !== 'register') serverAnswered = true;
      // Nobody came within the attempt: try again (the waiting line said it all).
      if (code === ErrorCode.TIMEOUT && (stage === undefined || stage === 'exchange')) continue;
      if (stage !== undefined && code !== ErrorCode.AUTH && code !== ErrorCode.NETWORK) {
        logProblem(`${describeStageFailure(error)}; still waiting`);
        await pause(RETRY_PAUSE_MS, signal);
        continue;
      }
      // The last session's socket may take a moment to close; a port busy from the start is fatal.
      if (code === ErrorCode.NETWORK && Date.now() < portReleaseUntil) {
        await pause(PORT_RETRY_MS, signal);
        continue;
      }
      if (code === ErrorCode.NETWORK || code === ErrorCode.INVALID_ARGUMENT) throw error;
      if (code === ErrorCode.AUTH) {
        const message = (error as Error).message;
        const from = rendezvous ? (/^handshake with (\S+)/.exec(message)?.[1] ?? peerAddress) : peerAddress;
        log(describeRefusal(from, message, config.passphrase !== undefined));
      } else log(`connection attempt from ${peerAddress} failed: ${(error as Error).message}`);
      await pause(RETRY_PAUSE_MS, signal);
      continue;
    }
    await runSession(connection, config, jail, log, signal);
    portReleaseUntil = Date.now() + PORT_RELEASE_MS;
    deadline =
      config.connectTimeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + config.connectTimeoutMs;
    announced = false;
  }
  log('stopped');
  return 0;
}

async function runSession(
  connection: Connection,
  config: ServeConfig,
  jail: Jail,
  log: Log,
  signal: AbortSignal,
): Promise<void> {
  const address = connection.remoteAddress ? formatAddress(connection.remoteAddress) : 'unknown address';
  const who = `${peerInfo(connection).peerId ?? 'unknown peer id'} ${address}`;
  const peerLog: Log = (line) => log(`[${who}] ${line}`);
  const stop = (): void => connection.destroy();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await greetClient(connection, { root: jail.root, cwd: '.', exec: config.exec });
    peerLog(`session opened (${connection.transport}, encrypted)`);
    const path = pathOf(connection);
    if (path) peerLog(describePath(path));
    await new Session({ connection, jail, exec: config.exec, log: peerLog }).run();
    peerLog('session closed by the client');
    await connection.close().catch(() => {});
  } catch (error) {
    if (error instanceof RefusedError) peerLog(`refused: ${error.message}`);
    else if (error instanceof ProtocolMessageError)
      peerLog(`protocol error, session ended: ${error.message}`);
    else if (signal.aborted) peerLog('session ended: the server is stopping');
    else peerLog(`session ended: ${(error as Error).message}`);
    await connection.close({ timeout: 2_000 }).catch(() => connection.destroy());
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

const PEER_ID = '[A-Z2-7]{4}(?:-[A-Z2-7]{4}){7}';
const HANDSHAKE_PREFIX = /^the security handshake with (?:the peer )?\S+ failed: /;

/**
 * One log line for a peer the transport's handshake refused, in the session lines' format: the peer id
 * in the bracket when the handshake learnt it (an id not in the allowed list), else "peer id unknown"
 * (with a wrong passphrase the peer never proves an id).
 */
export function describeRefusal(address: string, message: string, withPassphrase: boolean): string {
  const id = new RegExp(`peer id (${PEER_ID}) is not in the allowed list`).exec(message)?.[1];
  const reason = message.replace(STAGE_PREFIX, '').replace(HANDSHAKE_PREFIX, '');
  // Either side may be the one that notices (over UDP the roles come from random connection ids).
  if (PASSPHRASE_MISMATCH.test(reason)) {
    return `[${id ?? 'peer id unknown'} ${address}] refused: wrong passphrase (the client's is not this server's)`;
  }
  if (PASSPHRASE_ON_ONE_SIDE.test(reason)) {
    return `[${id ?? 'peer id unknown'} ${address}] refused: ${withPassphrase ? 'the client gave no passphrase' : 'the client gave a passphrase, this server takes none (it allows by peer id)'}`;
  }
  const theirs = /^the peer rejected the handshake: (.*)$/.exec(reason)?.[1];
  const said =
    theirs === undefined
      ? `refused: handshake failed: ${reason}`
      : `the client refused this server: ${theirs.replace(/^our peer id is not in its allowed list.*$/, "this server's peer id is not the client's --peer-id")}`;
  return `[${id ?? 'peer id unknown'} ${address}] ${said}`;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
