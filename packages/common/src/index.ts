export { DeadlineHeap, type HeapEntry } from './heap.js';
export { seededRandom } from './random.js';
export { HeaderView, ViewCache } from './views.js';
export { realTimeScheduler, type Scheduler } from './clock.js';
export type { LinkOffload, LinkOutput, PacketMeta } from './link.js';
export { VirtualClock } from './virtual-clock.js';
