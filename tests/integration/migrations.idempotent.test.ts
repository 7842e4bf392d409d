import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type CassandraClient, createCassandraClient } from '../../src/store/client.js';
import { migrate } from '../../src/store/migrations.js';
import { testEnv } from '../support/env.js';

const CQL_DIR = new URL('../../cql/', import.meta.url).pathname;

async function schemaOf(client: CassandraClient, keyspace: string) {
  const tables = await client.execute(
    'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?',
    [keyspace],
    { prepare: true },
  );
  const columns = await client.execute(
    'SELECT table_name, column_name, type, kind FROM system_schema.columns WHERE keyspace_name = ?',
    [keyspace],
    { prepare: true },
  );
  return {
    tables: tables.rows.map((row) => row.table_name as string).sort(),
    columns: columns.rows.map((row) => `${row.table_name}.${row.column_name}:${row.type}:${row.kind}`).sort(),
  };
}

describe('migrations', () => {
  // A keyspace of this test's own, created from nothing and dropped afterwards.
  const keyspace = `sb_migrate_${randomBytes(4).toString('hex')}`;
  const config = loadConfig(testEnv({ CASSANDRA_KEYSPACE: keyspace }));
  let client: CassandraClient;

  beforeAll(async () => {
    client = createCassandraClient(config.cassandra, { keyspace: false });
    await client.connect();
  });

  afterAll(async () => {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await client.shutdown();
  });

  const options = { dir: CQL_DIR, keyspace, replication: config.cassandra.replication };

  it('applies every cql/ file in order on an empty cluster and records each version', async () => {
    const first = await migrate(client, options);
    expect(first.applied).toEqual([
      '0001_keyspace.cql',
      '0002_users.cql',
      '0003_groups.cql',
      '0004_messages.cql',
      '0005_receipts.cql',
      '0006_idempotency.cql',
      '0007_direct_conversations.cql',
      '0008_cache_fences.cql',
      '0009_sessions.cql',
      '0010_drop_cache_fences.cql',
      '0011_sync_positions.cql',
      '0012_inbox.cql',
      '0013_idempotency_state.cql',
      '0014_message_mutations.cql',
      '0015_threads.cql',
      '0016_group_roles_and_blocks.cql',
      '0017_thread_reply_mutations.cql',
    ]);
    const recorded = await client.execute(`SELECT version, name FROM ${keyspace}.schema_migrations`);
    expect(recorded.rows.map((row) => row.version as number).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    ]);
    const { tables } = await schemaOf(client, keyspace);
    expect(tables).toEqual([
      'blocked_by_user',
      'blocks_by_user',
      'conversation_activity',
      'conversation_buckets',
      'direct_conversations_by_user',
      'group_members',
      'groups',
      'groups_by_user',
      'inbox_changes_by_user',
      'message_change_buckets',
      'message_changes',
      'message_idempotency',
      'messages',
      'pending_sends',
      'receipts',
      'refresh_tokens',
      'schema_migrations',
      'sessions',
      'sync_positions',
      'thread_buckets',
      'thread_messages',
      'thread_reply_roots',
      'thread_summaries',
      'users',
      'users_by_username',
    ]);
  });

  it('is a no-op when applied again: nothing re-applied and the schema unchanged', async () => {
    const before = await schemaOf(client, keyspace);
    const second = await migrate(client, options);
    const third = await migrate(client, options);
    expect(second.applied).toEqual([]);
    expect(third.applied).toEqual([]);
    // Every file in cql/ skipped, none applied.
    expect(second.skipped).toHaveLength(
      readdirSync(new URL('../../cql/', import.meta.url)).filter((f) => f.endsWith('.cql')).length,
    );
    expect(await schemaOf(client, keyspace)).toEqual(before);
  });

  it('refuses to run when an applied migration file was edited afterwards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cql-'));
    await cp(CQL_DIR, dir, { recursive: true });
    await writeFile(
      join(dir, '0002_users.cql'),
      'CREATE TABLE IF NOT EXISTS {{keyspace}}.users (user_id text PRIMARY KEY, edited text);\n',
    );
    await expect(migrate(client, { ...options, dir })).rejects.toThrow(/0002_users\.cql changed after it was applied/);
  });

  it('applies a new numbered file on top of the recorded ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-cql-'));
    await cp(CQL_DIR, dir, { recursive: true });
    await writeFile(
      join(dir, '0099_extra.cql'),
      '-- Serves: nothing; a test table.\nCREATE TABLE IF NOT EXISTS {{keyspace}}.extra (id text PRIMARY KEY);\n',
    );
    const result = await migrate(client, { ...options, dir });
    expect(result.applied).toEqual(['0099_extra.cql']);
    expect((await schemaOf(client, keyspace)).tables).toContain('extra');
  });
});
