/**
 * The nodes of a lab: hosts and routers, each a network namespace in which commands, Node scripts and
 * socket agents can run.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AGENT_SOURCE, LabAgent } from './agent.js';
import { LabError } from './command.js';
import type { Lab } from './lab.js';
import type { NatMapping, UnsolicitedPolicy } from './nftables.js';
import { type ExecOptions, LabProcess, type ProcessExit } from './process.js';

export interface RouterOptions {
  /** Default 'endpoint-independent' (plain masquerade, which keeps the source port when it is free). */
  mapping?: NatMapping;
  /** Unsolicited inbound on the WAN side: 'drop' (default, silent) or 'reset' (TCP RST, ICMP unreachable). */
  unsolicited?: UnsolicitedPolicy;
  /** Conntrack UDP timeouts in the router (unreplied and stream); Linux defaults are 30 s and 120 s. */
  udpTimeoutSec?: number;
  /**
   * One-way delay, in ms, for every packet the router forwards between its LAN and the internet (both
   * directions): a host behind it sees its round trip to the internet grow by twice this. A userspace
   * hop through a TUN device (no netem here; see delay.ts); needs `perl`. The router's own packets
   * (ICMP errors it sends) and LAN-to-LAN traffic are not delayed. Default 0 (no hop).
   */
  delayMs?: number;
  /** Drop every UDP datagram the router would forward (networks that allow only TCP). */
  blockUdp?: boolean;
  /** The LAN, as `a.b.c.0/24`; two routers may use the same one. Default 10.0.N.0/24. */
  lanSubnet?: string;
  /**
   * Only `false` (the default) is supported: hosts behind one router cannot reach each other through its
   * public address. Hairpinning an endpoint-independent mapping needs the router to find the inside host
   * that owns an outside port, which nftables cannot look up from conntrack; see NETWORK.md.
   */
  hairpin?: false;
}

/** Where Node scripts come from: a file (`.ts` files run through tsx) or inline code. */
export type NodeSource = string | URL | { code: string; module?: boolean };

export interface RunResult extends ProcessExit {
  stdout: string;
  stderr: string;
}

/** @internal */
export interface Uplink {
  /** Device in the node's namespace. */
  device: string;
  parentNamespace: string;
  /** The other end, in the parent's namespace (internet bridge or router LAN bridge). */
  parentDevice: string;
}

export function lanPrefix(subnet: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m || [m[1], m[2], m[3]].some((octet) => Number(octet) > 255)) {
    throw new LabError('usage', `lanSubnet must look like "192.168.1.0/24", got ${JSON.stringify(subnet)}`);
  }
  return `${m[1]}.${m[2]}.${m[3]}`;
}

let tsxLoader: string | undefined;
function tsxLoaderUrl(): string {
  try {
    tsxLoader ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    return tsxLoader;
  } catch (cause) {
    throw new LabError('usage', 'running a .ts script in the lab needs the tsx package', {
      cause,
    });
  }
}

/** A namespace in the lab: a host or a router. */
export abstract class LabNode {
  readonly lab: Lab;
  readonly name: string;
  readonly namespace: string;
  /** The node's own address: private for hosts behind a router, public for the others and routers. */
  abstract readonly address: string;
  /** @internal */
  readonly uplink: Uplink;

  constructor(lab: Lab, name: string, namespace: string, uplink: Uplink) {
    this.lab = lab;
    this.name = name;
    this.namespace = namespace;
    this.uplink = uplink;
  }

  /** Starts `command` inside this node's namespace. The lab stops it on destroy if it still runs. */
  exec(command: readonly string[], options: ExecOptions = {}): LabProcess {
    return this.lab.adopt(new LabProcess(this.namespace, command, options));
  }

  /** Runs `command` to completion (bounded by `timeoutMs`, default 10 s); throws on non-zero exit. */
  async run(command: readonly string[], options: ExecOptions = {}): Promise<RunResult> {
    const child = this.exec(command, { timeoutMs: 10_000, ...options });
    const exit = await child.exited;
    const result = { ...exit, stdout: child.stdout, stderr: child.stderr };
    if (exit.code !== 0) {
      throw new LabError(
        'command',
        `\`${command.join(' ')}\` in ${this.namespace} failed (${JSON.stringify(exit)}): ${child.stderr.trim()}`,
      );
    }
    return result;
  }

  /**
   * Runs Node inside the namespace: a script file (`.ts` via tsx, with workspace packages from source) or `{ code }` (CommonJS, or ESM with
   * `module: true`). Arguments are at `process.argv.slice(2)` either way.
   */
  spawnNode(source: NodeSource, args: readonly string[] = [], options: ExecOptions = {}): LabProcess {
    let nodeArgs: string[];
    if (typeof source === 'object' && !(source instanceof URL)) {
      nodeArgs = [...(source.module ? ['--input-type=module'] : []), '-e', source.code, '--', '[eval]'];
    } else {
      const path = source instanceof URL ? fileURLToPath(source) : source;
      nodeArgs = /\.[mc]?ts$/.test(path) ? ['--conditions=source', '--import', tsxLoaderUrl(), path] : [path];
    }
    return this.exec([process.execPath, ...nodeArgs, ...args], options);
  }

  /** Starts a socket agent in this namespace (see {@link LabAgent}). */
  startAgent(): Promise<LabAgent> {
    return LabAgent.start(this.spawnNode({ code: AGENT_SOURCE }, [], { collectOutput: false }));
  }
}

export class LabHost extends LabNode {
  readonly address: string;
  /** The router this host sits behind, if any. */
  readonly router: LabRouter | undefined;

  constructor(
    lab: Lab,
    name: string,
    namespace: string,
    uplink: Uplink,
    address: string,
    router?: LabRouter,
  ) {
    super(lab, name, namespace, uplink);
    this.address = address;
    this.router = router;
  }
}

export class LabRouter extends LabNode {
  readonly publicAddress: string;
  /** The router's address on its LAN, the default gateway of its hosts. */
  readonly lanAddress: string;
  readonly lanSubnet: string;
  readonly options: Readonly<
    Required<Omit<RouterOptions, 'udpTimeoutSec' | 'lanSubnet' | 'hairpin' | 'delayMs'>>
  > & {
    udpTimeoutSec?: number;
    delayMs?: number;
  };
  /** @internal */
  nextHost = 2;
  /** @internal */
  nextPort = 0;

  constructor(
    lab: Lab,
    name: string,
    namespace: string,
    uplink: Uplink,
    publicAddress: string,
    lanSubnet: string,
    options: LabRouter['options'],
  ) {
    super(lab, name, namespace, uplink);
    this.publicAddress = publicAddress;
    this.lanSubnet = lanSubnet;
    this.lanAddress = `${lanPrefix(lanSubnet)}.1`;
    this.options = options;
  }

  get address(): string {
    return this.publicAddress;
  }
}
