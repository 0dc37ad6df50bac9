// Merges vitest JSON reports (scripts/test's two concurrent runs: the unit projects and the
// kernel project) into one: OUT IN1 IN2 ... A missing or unreadable input is recorded as a
// failed file, so count-results.mjs counts it as a failure, never as nothing.
import { readFileSync, writeFileSync } from 'node:fs';

const [out, ...inputs] = process.argv.slice(2);
const merged = { numTotalTests: 0, numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, numTotalTestSuites: 0, numPassedTestSuites: 0, numFailedTestSuites: 0, numPendingTestSuites: 0, startTime: Infinity, success: true, testResults: [] };
for (const file of inputs) {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    merged.success = false;
    merged.testResults.push({ name: file, status: 'failed', message: `no report: ${err.message}`, assertionResults: [] });
    continue;
  }
  for (const k of Object.keys(merged)) if (typeof merged[k] === 'number' && k !== 'startTime' && typeof r[k] === 'number') merged[k] += r[k];
  if (typeof r.startTime === 'number') merged.startTime = Math.min(merged.startTime, r.startTime);
  merged.success &&= r.success !== false;
  merged.testResults.push(...(r.testResults ?? []));
}
if (merged.startTime === Infinity) delete merged.startTime;
writeFileSync(out, JSON.stringify(merged));
