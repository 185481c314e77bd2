/**
 * Whether this machine can run the namespace lab, and `describeLab`, which skips lab suites (saying why)
 * on machines that cannot, but fails them loudly where the lab is required (CI, or `ANTT_LAB=1`).
 */
import { describe, it } from 'vitest';
import { LabError, runCommandSync } from './command.js';
import { newLabId } from './registry.js';

export type LabAvailability = { available: true } | { available: false; reason: string };

const PROBE_TIMEOUT_MS = 5_000;
let cached: LabAvailability | undefined;

function probe(): LabAvailability {
  if (process.platform !== 'linux')
    return { available: false, reason: `network namespaces need Linux, this is ${process.platform}` };
  if (process.getuid?.() !== 0)
    return { available: false, reason: 'not root: creating network namespaces needs root' };
  const tools: Array<[string, string[], string]> = [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
    ['tc', ['-V'], 'iproute2'],
    ['sysctl', ['--version'], 'procps'],
  ];
  for (const [tool, args, pkg] of tools) {
    if (runCommandSync(tool, args, { timeoutMs: PROBE_TIMEOUT_MS }) === undefined) {
      return { available: false, reason: `\`${tool}\` is missing (apt-get install -y ${pkg})` };
    }
  }
  const namespace = `${newLabId()}-probe`;
  try {
    if (runCommandSync('ip', ['netns', 'add', namespace], { timeoutMs: PROBE_TIMEOUT_MS }) === undefined) {
      return {
        available: false,
        reason: '`ip netns add` failed (no CAP_SYS_ADMIN, or /run/netns not writable)',
      };
    }
    const steps: Array<[string[], string]> = [
      [['ip', '-n', namespace, 'link', 'set', 'lo', 'up'], 'bringing up loopback in a namespace failed'],
      [
        ['ip', 'netns', 'exec', namespace, 'nft', 'list', 'ruleset'],
        'nftables does not work inside a namespace',
      ],
    ];
    for (const [[file, ...args], reason] of steps) {
      if (runCommandSync(file!, args, { timeoutMs: PROBE_TIMEOUT_MS }) === undefined)
        return { available: false, reason };
    }
    return { available: true };
  } finally {
    runCommandSync('ip', ['netns', 'del', namespace], { timeoutMs: PROBE_TIMEOUT_MS });
  }
}

/** Checks (once per process) that we are root on Linux with ip, nft, tc and sysctl, and can make a namespace. */
export function labAvailabilitySync(): LabAvailability {
  cached ??= probe();
  return cached;
}

export async function labAvailability(): Promise<LabAvailability> {
  return labAvailabilitySync();
}

/** CI must not silently skip the lab: `CI=true` or `ANTT_LAB=1` turns "unavailable" into a failure. */
export function labRequired(): boolean {
  return process.env.CI === 'true' || process.env.ANTT_LAB === '1';
}

/** Throws a LabError when the lab cannot run here. */
export function assertLabAvailable(): void {
  const availability = labAvailabilitySync();
  if (!availability.available) {
    throw new LabError('unavailable', `the namespace lab cannot run here: ${availability.reason}`);
  }
}

/**
 * `describe` for suites that need the lab. Unavailable lab: the suite is skipped with the reason printed,
 * unless the lab is required (see {@link labRequired}), in which case one failing test says why.
 */
export function describeLab(name: string, fn: () => void): void {
  const availability = labAvailabilitySync();
  if (availability.available) {
    describe(name, fn);
    return;
  }
  const { reason } = availability;
  if (labRequired()) {
    describe(name, () => {
      it('needs the namespace lab (required because CI=true or ANTT_LAB=1)', () => {
        throw new LabError('unavailable', `the namespace lab cannot run here: ${reason}`);
      });
    });
    return;
  }
  console.warn(`[antt lab] skipping "${name}": ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, fn);
}
