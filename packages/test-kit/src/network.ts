// The network test tools: a seeded UDP impairment relay and a network-namespace NAT lab. Re-exported by
// src/index.ts (`export * from './network.js'`); see NETWORK.md.
export {
  BlackoutSchedule,
  type BlackoutWindow,
  createImpairmentRelay,
  ImpairedPath,
  type ImpairmentProfile,
  type ImpairmentRelay,
  type ImpairmentRelayOptions,
  type PathStats,
  Xoshiro128,
} from './impairment-relay.js';
export {
  AgentUdpSocket,
  type Endpoint,
  LabAgent,
  type ObservedAddress,
  type ReceivedDatagram,
  type TcpConnectResult,
} from './lab/agent.js';
export {
  assertLabAvailable,
  describeLab,
  type LabAvailability,
  labAvailability,
  labAvailabilitySync,
  labRequired,
} from './lab/availability.js';
export { LabError, type LabFailure } from './lab/command.js';
export { createLab, type HostPlacement, Lab, type LabOptions, type RateLimit } from './lab/lab.js';
export { lossRuleset, type NatMapping, routerRuleset, type UnsolicitedPolicy } from './lab/nftables.js';
export {
  LabHost,
  LabNode,
  LabRouter,
  type NodeSource,
  type RouterOptions,
  type RunResult,
} from './lab/nodes.js';
export { type ExecOptions, LabProcess, type ProcessExit } from './lab/process.js';
export { cleanupStaleLabs, LAB_NAMESPACE_PREFIX } from './lab/registry.js';
