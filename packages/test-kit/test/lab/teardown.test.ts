import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { cleanupStaleLabs, createLab, describeLab, type Lab } from '../../src/network.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/abandoned-lab.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function netnsList(): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile('ip', ['netns', 'list'], (error, stdout) =>
      error
        ? reject(error)
        : resolve(
            stdout
              .split('\n')
              .map((line) => line.split(' ')[0]!)
              .filter(Boolean),
          ),
    ),
  );
}

/** Waits (bounded) until `pid` has exited (gone, or a zombie nobody has reaped yet). */
async function untilGone(pid: number): Promise<void> {
  const deadline = Date.now() + 3000;
  const state = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return 'gone';
    }
  };
  while (state() !== 'gone' && state() !== 'Z') {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running (${state()})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs the fixture; resolves with the namespaces it printed once it has exited. */
interface AbandonedLab {
  namespaces: string[];
  sleeperPid: number;
  signal: string | null;
}

function runAbandonedLab(mode: 'exit' | 'signal'): Promise<AbandonedLab> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, FIXTURE, mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let stdout = '';
    let printed: Omit<AbandonedLab, 'signal'> = { namespaces: [], sleeperPid: 0 };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line && printed.sleeperPid === 0) {
        printed = JSON.parse(line) as typeof printed;
        if (mode === 'signal') child.kill('SIGTERM');
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ ...printed, signal });
    });
  });
}

describeLab('lab teardown safety nets', () => {
  let lab: Lab | undefined;

  afterAll(async () => {
    await lab?.destroy();
  });

  it('removes the labs of a process that exits without destroying them', async () => {
    const { namespaces, sleeperPid } = await runAbandonedLab('exit');
    expect(namespaces.length).toBe(3); // inet, nat, h
    const left = await netnsList();
    expect(namespaces.filter((name) => left.includes(name))).toEqual([]);
    await untilGone(sleeperPid);
  }, 30_000);

  it('removes them when the process is killed by SIGTERM, and still dies of the signal', async () => {
    const { namespaces, sleeperPid, signal } = await runAbandonedLab('signal');
    expect(namespaces.length).toBe(3);
    expect(signal).toBe('SIGTERM');
    const left = await netnsList();
    expect(namespaces.filter((name) => left.includes(name))).toEqual([]);
    await untilGone(sleeperPid);
  }, 30_000);

  it('cleanupStaleLabs removes namespaces of dead processes (and their processes) but not live labs', async () => {
    lab = await createLab({ name: 'live' });
    await lab.addPublicHost('keep');
    let deadPid = 32_000;
    while (existsSync(`/proc/${deadPid}`)) deadPid--;
    const stale = `antt-${deadPid}-zz-0-1-orphan`;
    await new Promise((resolve, reject) =>
      execFile('ip', ['netns', 'add', stale], (e) => (e ? reject(e) : resolve(e))),
    );
    const orphan = spawn('ip', ['netns', 'exec', stale, 'sleep', '60'], { stdio: 'ignore' });
    const orphanExited = new Promise((resolve) => orphan.on('exit', resolve));
    const removed = await cleanupStaleLabs();
    // Another test process may have swept it first (createLab sweeps once per process): check the result.
    expect(removed.filter((name) => name.startsWith(lab!.id))).toEqual([]);
    await orphanExited;
    const left = await netnsList();
    expect(left).not.toContain(stale);
    expect(left.filter((name) => name.startsWith(lab!.id)).length).toBe(2);
  });
});
