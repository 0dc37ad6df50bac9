// Types of bench/impaired-scenarios.mjs.
export const SCENARIOS: Record<'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g', { what: string; data: string; ack: string }>;
