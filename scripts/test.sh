#!/bin/sh
# The whole test suite, from a fresh clone: installs what the tests need, builds, runs every test.
# Real-fault tests share one kernel, so vitest runs test files one at a time (vitest.config.ts).
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-test-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
npx tsc -p tsconfig.json --noEmit
# Vitest's own summary, plus one plain "N passed, N failed" line read from its JSON report.
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit "$status"
