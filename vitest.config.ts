import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that never run the playbook, perf, a fault generator or the real engine on this machine, and spend
 * most of their time waiting on timers (Slack and Socket Mode outages, lease and claim expiry) or on a database.
 * `npm test` runs them in a second lane (project `beside`) next to the others (project `kernel`). Each lane runs
 * its files one at a time: the `kernel` files share one kernel (real major faults, system-wide perf, checks that
 * nothing of the playbook is left on the machine), so nothing else of theirs may run beside them. Files that
 * assert tight wall-clock bounds (limits, server, resolved storm, Prometheus) stay in `kernel` too, away from the
 * other lane's load. A new file belongs to `kernel` unless it is listed here.
 */
export const BESIDE = [
  'test/layers.test.ts',
  'test/config/**/*.test.ts',
  'test/intake/**/*.test.ts',
  'test/dispatch/**/*.test.ts',
  'test/store/**/*.test.ts',
  'test/slack/**/*.test.ts',
  'test/harness/socket-standin.test.ts',
  'test/harness/postgres.test.ts',
  'test/server/restart.test.ts',
  'test/server/drain-alertmanager.test.ts',
  'test/server/app.test.ts',
  'test/server/history-index.test.ts',
  'test/server/report-page.test.ts',
  'test/replicas/replicas.test.ts',
  'test/ops/alertmanager-config.test.ts',
  'test/security/log-redaction.test.ts',
  'test/security/report-access.test.ts',
  'test/security/retention.test.ts',
  'test/security/store-failure.test.ts',
  'test/unit/analysis/**/*.test.ts',
  'test/unit/context/**/*.test.ts',
  'test/unit/report/**/*.test.ts',
  'test/unit/slack/**/*.test.ts',
];

export default defineConfig({
  test: {
    fileParallelism: false,
    testTimeout: 120000,
    hookTimeout: 120000,
    projects: [
      { extends: true, test: { name: 'kernel', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...BESIDE] } },
      { extends: true, test: { name: 'beside', include: BESIDE } },
    ],
  },
});
