export type { Link, LinkOffload, LinkReceiver, LinkStats, PacketMeta } from './link.js';
export {
  encodeVnetHeader,
  decodeVnetHeader,
  decodeVnetMeta,
  newPacketMeta,
  IFF_VNET_HDR,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_GSO_ECN,
  VNET_HDR_LEN,
  type VnetHeader,
} from './vnet.js';
export type { CodedError } from './errors.js';
export {
  TunDevice,
  closeAllTunDevices,
  type TunConfig,
  type TunMode,
  type TunOptions,
  type TunOffload,
  type TunStats,
} from './tun-device.js';
export { resolveNetns, type NetnsTarget } from './netns.js';
export { parseRoute, type TunRoute } from './netlink.js';
export { UdpSegmenter, UDP_MAX_SEGMENTS, type UsoRefusal } from './uso.js';
export {
  PcapWriter,
  readPcap,
  capture,
  CaptureLink,
  PcapCapture,
  completeChecksum,
  DEFAULT_CAPTURE_MAX_BYTES,
  LINKTYPE_RAW,
  LINKTYPE_ETHERNET,
  type CaptureOptions,
  type PacketTap,
  type PcapCaptureOptions,
  type PcapFile,
  type PcapRecord,
  type PcapSink,
  type PcapWriterOptions,
} from './pcap.js';
export {
  createLinkPair,
  MemoryLink,
  type LinkDirection,
  type LinkFilter,
  type LinkPair,
  type LinkPairOptions,
  type LinkPairStats,
} from './memory-link.js';
export {
  impair,
  createShaper,
  newImpairStats,
  defaultQueueBytes,
  realTimeScheduler,
  parseImpairSpec,
  formatImpairSpec,
  seededRandom,
  type ImpairSpec,
  type ImpairOptions,
  type ImpairScheduler,
  type ImpairStats,
  type ImpairedLink,
  type DirectionalShaper,
  type GilbertElliott,
} from './impair.js';
export {
  relayLinks,
  openRelay,
  relaySpecs,
  type Relay,
  type RelayDirectionStats,
  type RelayOptions,
  type RelaySideOptions,
  type RelayStats,
  type TunRelay,
} from './relay.js';
export { createProbeLink, type ProbeLink, type ProbeLinkOptions, type ProbeLinkStats } from './probe-link.js';
export { disableUdpGso, enableUdpGso, UDP_GSO_MAX_BYTES, UDP_GSO_MAX_SEGMENTS } from './udp-gso.js';
