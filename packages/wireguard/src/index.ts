export { WireGuardDevice, DEFAULT_TIMERS, type Endpoint, type Outgoing, type PeerConfig, type PeerStatus, type Timers, type WireGuardOptions, type WireGuardStats } from './device.js';
export {
  MessageType, messageType, INITIATION_LEN, RESPONSE_LEN, COOKIE_REPLY_LEN, TRANSPORT_HEADER_LEN, TRANSPORT_MIN_LEN,
  parseInitiation, emitInitiation, parseResponse, emitResponse, parseCookieReply, emitCookieReply, parseTransport, emitTransport,
  type InitiationRepr, type ResponseRepr, type CookieReplyRepr, type TransportRepr,
} from './messages.js';
export { AllowedIps, parseIp, parsePrefix } from './allowedips.js';
export { ReplayWindow, REPLAY_WINDOW } from './replay.js';
export { CONSTRUCTION, IDENTIFIER, INITIAL_CHAIN_KEY, INITIAL_HASH } from './noise.js';
export {
  PrivateKey, hash, hmac, mac, kdf1, kdf2, kdf3, seal, open, sealRaw, openRaw, counterNonce, hchacha20, xseal, xopen, tai64n, taiAfter, x25519,
} from './crypto.js';
export { blake2s } from './blake2s.js';
