export * from './wire.js';
export { UdpLayer, type UdpLayerOptions, type UdpStats } from './layer.js';
export { MAX_MEMBERSHIPS, MAX_SOURCES } from './endpoint.js';
export type { UdpEndpoint, SocketHost, Membership, MembershipOp } from './endpoint.js';
export { UdpFlow, FLOW_OVERHEAD } from './flows.js';
export type { UdpFlowHandler, UdpFlowLimits, UdpFlowCloseReason, FlowDatagramInfo } from './flows.js';
