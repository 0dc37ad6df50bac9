export * from './mac.js';
export * from './frame.js';
export * from './arp.js';
export * from './ndp.js';
export {
  NeighbourCache, DEFAULT_NEIGHBOUR_PARAMS, type NeighbourParams, type NeighbourHost, type NeighbourStats, type NeighbourEntryInfo,
  type NeighbourUpdate, type NudState, type NeighbourKey,
} from './neighbour.js';
export { AddressTable, DEFAULT_ACD_PARAMS, type AcdParams, type AcdHost, type AcdStats, type AddressConflict, type AddressState } from './acd.js';
export {
  EthernetInterface, hostUnreachableError, toIpv4, MAX_MULTICAST_MACS, type EthernetInterfaceOptions, type EthernetStats, type FrameLink,
  type FrameReceiver, type Ipv4Config, type Ipv6Config, type IpLinkStats,
} from './interface.js';
export { LearningSwitch, SwitchPort, type SwitchOptions, type SwitchStats, type SwitchPortStats } from './switch.js';
export {
  GroupMembership, DEFAULT_MCAST_PARAMS, MODE_IS_INCLUDE, MODE_IS_EXCLUDE, CHANGE_TO_INCLUDE_MODE, CHANGE_TO_EXCLUDE_MODE,
  ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES, type GroupFilter, type McastVersion, type McastMessage, type McastQuery, type McastParams, type McastStats, type GroupRecord,
} from './mcast.js';
export * from './igmp.js';
export * from './mld.js';
export {
  Ipv6AddressTable, DEFAULT_ADDR6_PARAMS, type Addr6Host, type Addr6Info, type Addr6Params, type Addr6State, type Addr6Origin, type Addr6Stats,
} from './addr6.js';
export { parseRa, emitRs, eui64, ICMPV6_RA, ICMPV6_RS, type RaRepr, type PrefixInfo, type RaDropReason } from './ra.js';
