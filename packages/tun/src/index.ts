export type { Link, LinkReceiver, LinkStats } from './link.js';
