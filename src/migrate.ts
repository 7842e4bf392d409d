import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';
import { createCassandraClient } from './store/client.js';
import { migrate } from './store/migrations.js';

/** `npm run migrate`: applies cql/ to the configured keyspace; safe to run any number of times. */
async function main() {
  // Migrations need no JWT secret; fill it so the shared config schema parses.
  const config = loadConfig({ JWT_SECRET: 'x'.repeat(32), ...process.env });
  const client = createCassandraClient(config.cassandra, { keyspace: false });
  // cql/ sits beside src/ in the repo and beside dist/ in a build.
  const dir = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../cql/' : '../cql/', import.meta.url));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.connect();
        break;
      } catch (error) {
        if (attempt > config.startup.retries) throw error;
        await new Promise((resolve) => setTimeout(resolve, config.startup.retryDelayMs));
      }
    }
    const result = await migrate(client, {
      dir,
      keyspace: config.cassandra.keyspace,
      replication: config.cassandra.replication,
      log: (line) => process.stdout.write(`migrate: ${line}\n`),
    });
    process.stdout.write(
      `migrate: keyspace ${config.cassandra.keyspace}: ${result.applied.length} applied, ${result.skipped.length} already applied\n`,
    );
  } finally {
    await client.shutdown();
  }
}

main().catch((error) => {
  const message = error instanceof ConfigError ? error.message : (error as Error).message;
  process.stderr.write(`migrate: ${message}\n`);
  process.exit(1);
});
