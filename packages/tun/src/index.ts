export type { Link, LinkReceiver, LinkStats } from './link.js';
export type { CodedError } from './errors.js';
export {
  TunDevice,
  closeAllTunDevices,
  installSignalHandlers,
  type TunConfig,
  type TunMode,
  type TunOptions,
  type TunStats,
} from './tun-device.js';
export {
  PcapWriter,
  readPcap,
  capture,
  LINKTYPE_RAW,
  LINKTYPE_ETHERNET,
  type CaptureOptions,
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
  parseImpairSpec,
  formatImpairSpec,
  seededRandom,
  type ImpairSpec,
  type ImpairOptions,
  type ImpairScheduler,
  type ImpairStats,
  type ImpairedLink,
} from './impair.js';
