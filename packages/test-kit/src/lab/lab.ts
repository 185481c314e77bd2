/**
 * Real Linux NATs in network namespaces for integration tests.
 *
 * Topology: an "internet" namespace holds one bridge for 203.0.113.0/24 (TEST-NET-3). Public hosts and
 * routers' WAN sides attach to it; each router has its own LAN bridge (10.0.N.0/24 unless told) for the
 * hosts behind it. Every veth is created with both ends inside lab namespaces, so the lab never touches
 * the root namespace and no lab traffic can leave it.
 *
 * @example
 * ```ts
 * const lab = await createLab();
 * const server = await lab.addPublicHost('server');
 * const nat = await lab.addRouter('nat', { mapping: 'endpoint-dependent' });
 * const a = await lab.addHost('a', { behind: nat });
 * const reflector = await (await server.startAgent()).udpBind({ port: 7000, reflect: true });
 * const probe = await (await a.startAgent()).udpBind();
 * await probe.observeMapping({ host: server.address, port: 7000 }); // { address: nat.publicAddress, ... }
 * await lab.destroy();
 * ```
 */
import { assertLabAvailable } from './availability.js';
import { LabError, runCommand, tryCommand } from './command.js';
import {
  DELAY_DEVICE,
  DELAY_SOURCE,
  DELAY_SYSCTLS,
  delayRoutes,
  MAX_DELAY_MS,
  TUN_OPENER_SOURCE,
} from './delay.js';
import { IMPAIR_TABLE, lossRuleset, ROUTER_TABLE, replaceTable, routerRuleset } from './nftables.js';
import { LabHost, type LabNode, LabRouter, lanPrefix, type RouterOptions, type Uplink } from './nodes.js';
import type { LabProcess } from './process.js';
import {
  checkNodeName,
  cleanupStaleLabs,
  newLabId,
  removeNamespace,
  trackNamespace,
  untrackNamespace,
} from './registry.js';

const PUBLIC_PREFIX = '203.0.113';
const PUBLIC_PREFIX_LENGTH = 24;
const FIRST_PUBLIC_HOST = 2;
const LAST_HOST = 254;
const INTERNET_BRIDGE = 'br0';
const LAN_BRIDGE = 'lan';
const WAN_DEVICE = 'wan';
const HOST_DEVICE = 'eth0';
const DEFAULT_TBF_LATENCY_MS = 50;
const MIN_TBF_BURST_BYTES = 4 * 1514;
/** A token bucket holds 20 ms at the configured rate (at least a few full frames). */
const TBF_BURST_SECONDS = 0.02;
const STOP_PROCESS_GRACE_MS = 500;
/** How long the delaying process may take to attach to its TUN device. */
const DELAY_START_TIMEOUT_MS = 10_000;

/** Sysctls every lab namespace gets: no IPv6 chatter on the bridges. */
const COMMON_SYSCTLS = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
/** LAB-NOTES pitfall 4: br_netfilter is loaded, so bridges must not send frames through nftables. */
const BRIDGE_SYSCTLS = ['net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0'];

export interface LabOptions {
  /** Shown in error messages; namespace names always use a process-unique id. */
  name?: string;
}

export type HostPlacement = { behind: LabRouter } | { public: true };

export interface RateLimit {
  bytesPerSecond: number;
  /** 'up' = leaving the node toward its parent, 'down' = arriving at it. Default 'both'. */
  direction?: 'up' | 'down' | 'both';
  burstBytes?: number;
  /** How long packets may wait in the token bucket before being dropped (default 50 ms). */
  latencyMs?: number;
}

let staleSweep: Promise<string[]> | undefined;

export class Lab {
  readonly id: string;
  readonly name: string;
  /** The namespace that holds the internet bridge. */
  readonly internetNamespace: string;
  readonly publicSubnet = `${PUBLIC_PREFIX}.0/${PUBLIC_PREFIX_LENGTH}`;
  readonly #nodes: LabNode[] = [];
  readonly #namespaces: string[] = [];
  readonly #processes = new Set<LabProcess>();
  readonly #names = new Set<string>();
  #nextPublic = FIRST_PUBLIC_HOST;
  #nextRouter = 1;
  #nextInternetPort = 0;
  #destroying: Promise<void> | undefined;

  private constructor(id: string, name: string) {
    this.id = id;
    this.name = name;
    this.internetNamespace = `${id}-inet`;
  }

  /** @internal use {@link createLab} */
  static async create(options: LabOptions = {}): Promise<Lab> {
    assertLabAvailable();
    // Once per process: namespaces left by crashed runs (their creator is gone) go first.
    staleSweep ??= cleanupStaleLabs().catch(() => []);
    await staleSweep;
    const lab = new Lab(newLabId(), options.name ?? 'lab');
    try {
      await lab.#addNamespace(lab.internetNamespace, BRIDGE_SYSCTLS);
      await lab.#ip(lab.internetNamespace, ['link', 'add', INTERNET_BRIDGE, 'type', 'bridge']);
      await lab.#ip(lab.internetNamespace, ['link', 'set', INTERNET_BRIDGE, 'up']);
    } catch (error) {
      await lab.destroy().catch(() => {});
      throw error;
    }
    return lab;
  }

  /** Every namespace this lab created and has not yet removed. */
  get namespaces(): readonly string[] {
    return [...this.#namespaces];
  }

  get nodes(): readonly LabNode[] {
    return [...this.#nodes];
  }

  /** A host directly on the internet segment (no NAT). */
  addPublicHost(name: string): Promise<LabHost> {
    return this.addHost(name, { public: true });
  }

  async addHost(name: string, placement: HostPlacement): Promise<LabHost> {
    const namespace = this.#claim(name);
    if ('behind' in placement) {
      const router = placement.behind;
      if (router.lab !== this) throw new LabError('usage', `router ${router.name} belongs to another lab`);
      if (router.nextHost > LAST_HOST) throw new LabError('usage', `router ${router.name}'s LAN is full`);
      const address = `${lanPrefix(router.lanSubnet)}.${router.nextHost++}`;
      const uplink = {
        device: HOST_DEVICE,
        parentNamespace: router.namespace,
        parentDevice: `h${router.nextPort++}`,
      };
      await this.#addNamespace(namespace, []);
      await this.#attach(namespace, uplink, LAN_BRIDGE, `${address}/24`);
      await this.#ip(namespace, ['route', 'add', 'default', 'via', router.lanAddress]);
      return this.#register(new LabHost(this, name, namespace, uplink, address, router));
    }
    const address = this.#nextPublicAddress();
    const uplink = {
      device: HOST_DEVICE,
      parentNamespace: this.internetNamespace,
      parentDevice: `p${this.#nextInternetPort++}`,
    };
    await this.#addNamespace(namespace, []);
    await this.#attach(namespace, uplink, INTERNET_BRIDGE, `${address}/${PUBLIC_PREFIX_LENGTH}`);
    return this.#register(new LabHost(this, name, namespace, uplink, address));
  }

  async addRouter(name: string, options: RouterOptions = {}): Promise<LabRouter> {
    if ((options.hairpin as boolean | undefined) === true) {
      throw new LabError('usage', 'hairpin: true is not supported by the lab routers (see NETWORK.md)');
    }
    const delayMs = options.delayMs ?? 0;
    if (!(delayMs >= 0 && delayMs <= MAX_DELAY_MS)) {
      throw new LabError('usage', `delayMs must be 0..${MAX_DELAY_MS}, got ${options.delayMs}`);
    }
    const namespace = this.#claim(name);
    const routerIndex = this.#nextRouter++;
    const lanSubnet = options.lanSubnet ?? `10.0.${routerIndex}.0/24`;
    lanPrefix(lanSubnet);
    const resolved = {
      mapping: options.mapping ?? 'endpoint-independent',
      unsolicited: options.unsolicited ?? 'drop',
      blockUdp: options.blockUdp ?? false,
      ...(options.udpTimeoutSec === undefined ? {} : { udpTimeoutSec: options.udpTimeoutSec }),
      ...(delayMs > 0 ? { delayMs } : {}),
    } as const;
    const publicAddress = this.#nextPublicAddress();
    const uplink = {
      device: WAN_DEVICE,
      parentNamespace: this.internetNamespace,
      parentDevice: `p${this.#nextInternetPort++}`,
    };
    const router = new LabRouter(this, name, namespace, uplink, publicAddress, lanSubnet, resolved);
    await this.#addNamespace(namespace, [...BRIDGE_SYSCTLS, 'net.ipv4.ip_forward=1']);
    await this.#attach(namespace, uplink, INTERNET_BRIDGE, `${publicAddress}/${PUBLIC_PREFIX_LENGTH}`);
    await this.#ip(namespace, ['link', 'add', LAN_BRIDGE, 'type', 'bridge']);
    await this.#ip(namespace, ['addr', 'add', `${router.lanAddress}/24`, 'dev', LAN_BRIDGE]);
    await this.#ip(namespace, ['link', 'set', LAN_BRIDGE, 'up']);
    const ruleset = routerRuleset({
      ...resolved,
      wan: WAN_DEVICE,
      ...(delayMs > 0 ? { delay: { lanSubnet } } : {}),
    });
    await this.#nft(namespace, replaceTable(ROUTER_TABLE, ruleset));
    if (resolved.udpTimeoutSec !== undefined) {
      const seconds = Math.max(1, Math.round(resolved.udpTimeoutSec));
      // Conntrack's sysctls are per namespace and exist once the NAT table above has loaded conntrack.
      await this.#sysctl(namespace, [
        `net.netfilter.nf_conntrack_udp_timeout=${seconds}`,
        `net.netfilter.nf_conntrack_udp_timeout_stream=${seconds}`,
      ]);
    }
    if (delayMs > 0) await this.#startDelay(router, delayMs);
    return this.#register(router);
  }

  /**
   * The router's TUN hop (see delay.ts): a persistent device, the process that holds packets on it, then
   * the routes, so no forwarded packet skips the delay once addRouter() resolved.
   */
  async #startDelay(router: LabRouter, delayMs: number): Promise<void> {
    const { namespace } = router;
    await this.#ip(namespace, ['tuntap', 'add', 'dev', DELAY_DEVICE, 'mode', 'tun']);
    const hop = router.exec([
      'perl',
      '-e',
      TUN_OPENER_SOURCE,
      DELAY_DEVICE,
      process.execPath,
      '-e',
      DELAY_SOURCE,
      '--',
      '[eval]',
      String(delayMs),
    ]);
    await hop.waitForOutput('DELAYING', { timeoutMs: DELAY_START_TIMEOUT_MS });
    await this.#sysctl(namespace, DELAY_SYSCTLS);
    for (const args of delayRoutes(WAN_DEVICE)) await this.#ip(namespace, args);
  }

  /**
   * Random loss on a node: each packet entering or leaving its stack is dropped with probability
   * `percent`/100 (for a router that is every forwarded packet, in both directions). 0 removes it.
   */
  async setLoss(node: LabNode, percent: number): Promise<void> {
    this.#own(node);
    if (!(percent >= 0 && percent <= 100))
      throw new LabError('usage', `loss must be 0..100 %, got ${percent}`);
    if (percent === 0) {
      await tryCommand('ip', ['netns', 'exec', node.namespace, 'nft', 'delete', 'table', 'ip', IMPAIR_TABLE]);
      return;
    }
    await this.#nft(node.namespace, replaceTable(IMPAIR_TABLE, lossRuleset(percent)));
  }

  /** Caps the node's link with a token bucket filter (tbf); `null` removes the cap. */
  async setRateLimit(node: LabNode, limit: RateLimit | null): Promise<void> {
    this.#own(node);
    const { device, parentNamespace, parentDevice } = node.uplink;
    const ends: Array<[string, string, 'up' | 'down']> = [
      [node.namespace, device, 'up'],
      [parentNamespace, parentDevice, 'down'],
    ];
    for (const [namespace, dev, direction] of ends) {
      await tryCommand('tc', ['-n', namespace, 'qdisc', 'del', 'dev', dev, 'root']);
      if (
        !limit ||
        (limit.direction !== undefined && limit.direction !== 'both' && limit.direction !== direction)
      )
        continue;
      if (!(limit.bytesPerSecond > 0))
        throw new LabError('usage', `bytesPerSecond must be > 0, got ${limit.bytesPerSecond}`);
      const burst = Math.round(
        limit.burstBytes ?? Math.max(MIN_TBF_BURST_BYTES, limit.bytesPerSecond * TBF_BURST_SECONDS),
      );
      const latencyMs = limit.latencyMs ?? DEFAULT_TBF_LATENCY_MS;
      await runCommand('tc', [
        '-n',
        namespace,
        'qdisc',
        'replace',
        'dev',
        dev,
        'root',
        'tbf',
        'rate',
        `${Math.round(limit.bytesPerSecond * 8)}bit`,
        'burst',
        String(burst),
        'latency',
        `${latencyMs}ms`,
      ]);
    }
  }

  /** @internal Tracks a process so destroy() can stop it. */
  adopt(child: LabProcess): LabProcess {
    if (this.#destroying) {
      child.kill('SIGKILL');
      throw new LabError('usage', `lab ${this.name} is destroyed`);
    }
    this.#processes.add(child);
    void child.exited.then(() => this.#processes.delete(child));
    return child;
  }

  /**
   * Stops every process, then removes every namespace (and with them every veth and bridge), hosts first,
   * the internet last. Idempotent; safe to call after a failed test or a failed setup.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  async #teardown(): Promise<void> {
    await Promise.all([...this.#processes].map((child) => child.stop(STOP_PROCESS_GRACE_MS)));
    const failures: unknown[] = [];
    const devices = new Map(this.#nodes.map((node) => [node.namespace, [node.uplink.device]]));
    for (const namespace of [...this.#namespaces].reverse()) {
      try {
        // LAB-NOTES pitfalls 2 and 3: processes first (by pid), then the veth, then the namespace.
        await removeNamespace(namespace, devices.get(namespace) ?? []);
        untrackNamespace(namespace);
        this.#namespaces.splice(this.#namespaces.indexOf(namespace), 1);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0)
      throw new AggregateError(
        failures,
        `lab ${this.name} (${this.id}): ${failures.length} namespaces could not be removed`,
      );
  }

  #own(node: LabNode): void {
    if (node.lab !== this) throw new LabError('usage', `${node.name} belongs to another lab`);
  }

  #claim(name: string): string {
    checkNodeName(name);
    if (this.#destroying) throw new LabError('usage', `lab ${this.name} is destroyed`);
    if (this.#names.has(name) || name === 'inet')
      throw new LabError('usage', `lab ${this.name} already has a node named ${name}`);
    this.#names.add(name);
    return `${this.id}-${name}`;
  }

  #nextPublicAddress(): string {
    const host = this.#nextPublic++;
    if (host > LAST_HOST) throw new LabError('usage', `lab ${this.name}: the internet segment is full`);
    return `${PUBLIC_PREFIX}.${host}`;
  }

  #register<T extends LabNode>(node: T): T {
    this.#nodes.push(node);
    return node;
  }

  async #addNamespace(namespace: string, sysctls: string[]): Promise<void> {
    trackNamespace(namespace); // before creating it, so a crash half-way is still cleaned at exit
    await runCommand('ip', ['netns', 'add', namespace]);
    this.#namespaces.push(namespace);
    await this.#ip(namespace, ['link', 'set', 'lo', 'up']);
    await this.#sysctl(namespace, [...COMMON_SYSCTLS, ...sysctls]);
  }

  /** A veth from the node to its parent's bridge, with the node's address on it. */
  async #attach(namespace: string, uplink: Uplink, bridge: string, cidr: string): Promise<void> {
    await this.#ip(namespace, [
      'link',
      'add',
      uplink.device,
      'type',
      'veth',
      'peer',
      'name',
      uplink.parentDevice,
      'netns',
      uplink.parentNamespace,
    ]);
    await this.#ip(uplink.parentNamespace, ['link', 'set', uplink.parentDevice, 'master', bridge, 'up']);
    await this.#ip(namespace, ['addr', 'add', cidr, 'dev', uplink.device]);
    await this.#ip(namespace, ['link', 'set', uplink.device, 'up']);
  }

  #ip(namespace: string, args: string[]): Promise<unknown> {
    return runCommand('ip', ['-n', namespace, ...args]);
  }

  #nft(namespace: string, ruleset: string): Promise<unknown> {
    return runCommand('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], { input: ruleset });
  }

  /** `-e`: keys that do not exist here (no br_netfilter, say) are not an error; failed writes are. */
  #sysctl(namespace: string, assignments: string[]): Promise<unknown> {
    return runCommand('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-e', '-w', ...assignments]);
  }
}

/** Creates an empty lab (just the internet segment). Throws a LabError if the lab cannot run here. */
export function createLab(options: LabOptions = {}): Promise<Lab> {
  return Lab.create(options);
}
