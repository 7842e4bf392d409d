import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run chaos`): scenarios against the running cluster topology, one after
 * another in one file. Its own config so `npm test` never runs it (tests/vitest.config.ts includes
 * only `*.test.ts`; these files are `*.chaos.ts`).
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['tests/chaos/**/*.chaos.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 420_000,
    hookTimeout: 180_000,
  },
});
