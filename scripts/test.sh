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
npx vitest run "$@"
