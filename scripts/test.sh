#!/bin/sh
# The whole test suite, from a fresh clone: installs what the tests need, builds, runs every test.
# Real-fault tests share one kernel, so vitest runs those files one at a time; the files that only wait on
# timers run beside them (vitest.config.ts).
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-test-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
npx tsc -p tsconfig.json --noEmit
# Vitest's own summary, plus one plain "N passed, N failed" line read from its JSON reports.
# With no arguments, the two lanes of vitest.config.ts run side by side: `kernel` (real faults, perf, the
# playbook: one file at a time) in the foreground, `beside` (files that only wait on timers, Slack stand-ins and
# the database) in the background, its output shown when both are done. Arguments run one vitest as given.
dir=$(mktemp -d)
beside=
trap '[ -n "$beside" ] && kill "$beside" 2>/dev/null; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
status=0
if [ $# -gt 0 ]; then
  npx vitest run --reporter=default --reporter=json --outputFile.json="$dir/all.json" "$@" || status=$?
else
  npx vitest run --project beside --reporter=default --reporter=json --outputFile.json="$dir/beside.json" >"$dir/beside.log" 2>&1 &
  beside=$!
  npx vitest run --project kernel --reporter=default --reporter=json --outputFile.json="$dir/kernel.json" || status=$?
  wait "$beside" || status=$?
  beside=
  printf '\n---- project beside (ran alongside) ----\n'
  cat "$dir/beside.log"
fi
node -e '
  const fs = require("fs");
  const files = process.argv.slice(1);
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) { console.log(`no test report from ${missing.map((f) => f.replace(/.*\//, "")).join(", ")}: vitest did not finish`); process.exit(1); }
  let passed = 0, failed = 0, skipped = 0;
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' $(if [ $# -gt 0 ]; then echo "$dir/all.json"; else echo "$dir/kernel.json $dir/beside.json"; fi) || status=1
exit "$status"
