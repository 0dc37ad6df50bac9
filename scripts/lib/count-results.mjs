// Prints "N passed, N failed" from a vitest JSON report and exits non-zero when
// anything failed, the report is missing, or vitest itself failed.
import { readFileSync } from 'node:fs';

const [file, rcText] = process.argv.slice(2);
const rc = Number(rcText ?? 1);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const suite of report.testResults ?? []) {
    const results = suite.assertionResults ?? [];
    // A file that failed to load has no assertions but is a failure.
    if (results.length === 0 && suite.status === 'failed') failed += 1;
    for (const t of results) {
      if (t.status === 'passed') passed += 1;
      else if (t.status === 'failed') failed += 1;
      else skipped += 1;
    }
  }
} catch (err) {
  console.error(`no test report (${err.message})`);
  failed += 1;
}
if (passed + failed === 0) failed = 1; // ran no test: that is a failure here
if (rc !== 0 && failed === 0) failed = 1; // vitest failed outside any test (e.g. unhandled error)
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
