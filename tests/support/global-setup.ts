import { execFileSync } from 'node:child_process';
import { loadConfig } from '../../src/config.js';
import { createCassandraClient } from '../../src/store/client.js';
import { migrate } from '../../src/store/migrations.js';
import { testEnv } from './env.js';

/**
 * Once per integration run: make sure the real services answer (starting them natively when
 * they do not) and apply the schema to the test keyspace.
 */
export default async function setup() {
  const repo = new URL('../../', import.meta.url).pathname;
  execFileSync('bash', ['docker/native/stack.sh', 'up'], { cwd: repo, stdio: 'inherit' });
  const config = loadConfig(testEnv());
  const client = createCassandraClient(config.cassandra, { keyspace: false });
  try {
    await client.connect();
    await migrate(client, {
      dir: new URL('../../cql/', import.meta.url).pathname,
      keyspace: config.cassandra.keyspace,
      replication: config.cassandra.replication,
    });
  } finally {
    await client.shutdown();
  }
}
