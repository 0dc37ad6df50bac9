// Fails when the layering is broken or an import cycle exists (also run as a test).
import { layeringViolations, cycles } from './lib/imports.mjs';
const bad = [...layeringViolations(), ...cycles().map((c) => `cycle: ${c}`)];
for (const b of bad) console.error(b);
console.log(bad.length ? `layering: ${bad.length} problem(s)` : 'layering: ok, no cycles');
process.exit(bad.length ? 1 : 0);
