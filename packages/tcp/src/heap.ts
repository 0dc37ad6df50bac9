/** The timer queue: the shared indexed deadline heap (@netstack/common heap.ts). */
export { DeadlineHeap, type HeapEntry } from '@netstack/common';
