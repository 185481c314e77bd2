/**
 * Lab names, and the safety net that removes labs nobody destroyed.
 *
 * Every namespace a lab creates is named `antt-<pid>-<start>-<thread>-<lab>-<node>`, where `<start>` is the
 * creating process's start time (clock ticks since boot, base 36). A namespace is stale when no process
 * with that pid and that start time is alive, so a recycled pid never protects an old lab, and a live
 * test run's labs are never touched. The lab creates no interfaces in the root namespace (each veth is
 * created with both ends inside lab namespaces), so removing the namespaces removes every link.
 */
import { readFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { LabError, runCommand, runCommandSync, tryCommand } from './command.js';

export const LAB_NAMESPACE_PREFIX = 'antt-';
const KILL_WAIT_MS = 3_000;
const KILL_POLL_MS = 20;
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const NAMESPACE_PATTERN = /^antt-(\d+)-([0-9a-z]+)-(\d+)-(\d+)-([A-Za-z0-9_-]+)$/;

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined. */
function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19]; // field 22 overall
    return ticks === undefined ? undefined : BigInt(ticks).toString(36);
  } catch {
    return undefined;
  }
}

const OWN_START = processStartTicks(process.pid) ?? '0';
let labCounter = 0;

/** A fresh, process-unique lab id: the prefix of every namespace of that lab. */
export function newLabId(): string {
  labCounter++;
  return `${LAB_NAMESPACE_PREFIX}${process.pid}-${OWN_START}-${threadId}-${labCounter}`;
}

/** Lab and node names become part of namespace names: keep them short and shell-safe. */
export function checkNodeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_]{0,23}$/.test(name)) {
    throw new LabError('usage', `lab node name ${JSON.stringify(name)} must be 1-24 letters, digits or _`);
  }
  return name;
}

export interface ParsedNamespace {
  pid: number;
  start: string;
  labId: string;
}

export function parseNamespaceName(name: string): ParsedNamespace | undefined {
  const m = NAMESPACE_PATTERN.exec(name);
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2]!, labId: `antt-${m[1]}-${m[2]}-${m[3]}-${m[4]}` };
}

/** Whether the process that created a namespace of this name is gone. */
export function isStaleNamespace(name: string): boolean {
  const parsed = parseNamespaceName(name);
  if (!parsed) return false;
  return processStartTicks(parsed.pid) !== parsed.start;
}

/** Parses `ip netns list` ("name (id: 3)" or "name") into names. */
export function parseNetnsList(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.length > 0);
}

export async function listNamespaces(): Promise<string[]> {
  const result = await tryCommand('ip', ['netns', 'list']);
  return result ? parseNetnsList(result.stdout) : [];
}

function parsePids(output: string | undefined): number[] {
  return (output ?? '')
    .split(/\s+/)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Kills every process inside `namespace` (by pid, as listed by `ip netns pids`) and waits, bounded, until
 * none is left: a namespace that still holds processes survives `ip netns del` with its veths.
 */
export async function emptyNamespace(namespace: string): Promise<void> {
  const deadline = Date.now() + KILL_WAIT_MS;
  for (;;) {
    const pids = parsePids((await tryCommand('ip', ['netns', 'pids', namespace]))?.stdout);
    if (pids.length === 0 || Date.now() > deadline) return;
    killPids(pids);
    await new Promise((resolve) => setTimeout(resolve, KILL_POLL_MS));
  }
}

/** Removes one namespace: its processes first, then the given links inside it, then the name. */
export async function removeNamespace(namespace: string, links: readonly string[] = []): Promise<void> {
  await emptyNamespace(namespace);
  for (const link of links) await tryCommand('ip', ['-n', namespace, 'link', 'del', link]);
  await runCommand('ip', ['netns', 'del', namespace]).catch(async (error: unknown) => {
    // Already gone is fine; anything else is reported.
    if ((await listNamespaces()).includes(namespace)) throw error;
  });
}

function removeNamespaceSync(namespace: string): void {
  killPids(parsePids(runCommandSync('ip', ['netns', 'pids', namespace], { timeoutMs: 2_000 })));
  runCommandSync('ip', ['netns', 'del', namespace], { timeoutMs: 2_000 });
}

/**
 * Removes namespaces (and so every link) left by lab runs whose process is gone. Safe to call from any
 * number of parallel test files: a live process's labs are never touched. Returns the removed names.
 */
export async function cleanupStaleLabs(): Promise<string[]> {
  const stale = (await listNamespaces()).filter(isStaleNamespace);
  for (const namespace of stale) await removeNamespace(namespace);
  return stale;
}

// ---------------------------------------------------------------------------------------------------------
// Namespaces of this process that are not yet destroyed, for the synchronous exit path.

const liveNamespaces = new Set<string>();
let handlersInstalled = false;

function cleanupLiveSync(): void {
  for (const namespace of [...liveNamespaces].reverse()) removeNamespaceSync(namespace);
  liveNamespaces.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupLiveSync();
  process.off(signal, onSignal);
  // Die of the signal as we would have without this handler, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupLiveSync);
  for (const signal of EXIT_SIGNALS) process.on(signal, onSignal);
}

export function trackNamespace(namespace: string): void {
  installExitHandlers();
  liveNamespaces.add(namespace);
}

export function untrackNamespace(namespace: string): void {
  liveNamespaces.delete(namespace);
}
