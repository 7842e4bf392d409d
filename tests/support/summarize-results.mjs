// Adds up the JSON reports that docker/native/test.sh asks vitest to write, and prints one plain
// closing line ("tests: N passed, N failed, N skipped") for people and for CI's log reader: the
// fuzz run and the benchmark print after the tests, so vitest's own summary is not the last word.
// Usage: node tests/support/summarize-results.mjs report.json [report.json ...]
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
