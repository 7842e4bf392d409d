import { defineConfig } from 'vitest/config';

/**
 * Four projects: unit (no I/O, fast), integration (real Cassandra and Redis, started by
 * docker/native/test.sh; few files at once so a 2-core machine is not oversubscribed), faults
 * (the randomized fault tests of tests/chaos/, alone after it), and browser (the web console in
 * headless chromium, last). The cluster-topology suite
 * (tests/chaos/*.chaos.ts) has its own config: npm run chaos.
 */
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          // Unit tests run first, then integration tests with their own worker limit.
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          // The randomized fault tests (a node's Cassandra link slowed past the send deadline,
          // Redis killed) hold the stable position back for every node on the test keyspace for
          // tens of seconds by design; run after the integration project, one file at a time, so
          // no other test's catch-up waits on them (a CI run timed out an SDK catch-up that way).
          name: 'faults',
          include: ['tests/chaos/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // The web console in headless chromium (tests/browser/): last, one file at a time, so
          // the browser's processes never compete with the integration workers for two cores.
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
