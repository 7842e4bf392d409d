import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CassandraClient } from './client.js';

/**
 * Applies the numbered files in cql/ in order and records each in schema_migrations. Every file
 * is idempotent (IF NOT EXISTS), so re-running a file that was half applied is safe; a file
 * already recorded is skipped, and one whose text changed after it was applied is an error.
 */
export interface MigrationFile {
  version: number;
  name: string;
  statements: string[];
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

// Placeholders in the .cql files, filled from CASSANDRA_KEYSPACE and CASSANDRA_REPLICATION.
const KEYSPACE_PLACEHOLDER = '{{keyspace}}';
const REPLICATION_PLACEHOLDER = '{{replication}}';
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.cql$/;

/** Splits a CQL file into statements: drops `--` comment lines, splits on `;` at a line end. */
export function splitStatements(text: string): string[] {
  const withoutComments = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

export async function readMigrations(dir: string, vars: { keyspace: string; replication: string }) {
  const files = (await readdir(dir)).filter((file) => FILE_PATTERN.test(file)).sort();
  const migrations: MigrationFile[] = [];
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) continue;
    const raw = await readFile(join(dir, file), 'utf8');
    const text = raw
      .replaceAll(KEYSPACE_PLACEHOLDER, vars.keyspace)
      .replaceAll(REPLICATION_PLACEHOLDER, vars.replication);
    migrations.push({
      version: Number(match[1]),
      name: file,
      statements: splitStatements(text),
      checksum: createHash('sha256').update(raw).digest('hex'),
    });
  }
  return migrations;
}

export async function migrate(
  client: CassandraClient,
  options: { dir: string; keyspace: string; replication: string; log?: (line: string) => void },
): Promise<MigrationResult> {
  const log = options.log ?? (() => {});
  const migrations = await readMigrations(options.dir, options);
  const [keyspaceFile, ...rest] = migrations;
  if (keyspaceFile?.version !== 1) throw new Error('cql/0001_*.cql must create the keyspace');
  // The keyspace must exist before the table that records migrations can.
  for (const statement of keyspaceFile.statements) await client.execute(statement);
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${options.keyspace}.schema_migrations (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)`,
  );

  const recorded = new Map<number, { name: string; checksum: string }>();
  const rows = await client.execute(`SELECT version, name, checksum FROM ${options.keyspace}.schema_migrations`);
  for (const row of rows.rows) recorded.set(row.version as number, { name: row.name, checksum: row.checksum });

  const result: MigrationResult = { applied: [], skipped: [] };
  for (const migration of [keyspaceFile, ...rest]) {
    const previous = recorded.get(migration.version);
    if (previous) {
      if (previous.checksum !== migration.checksum) {
        throw new Error(
          `migration ${migration.name} changed after it was applied; add a new numbered file instead of editing it`,
        );
      }
      result.skipped.push(migration.name);
      continue;
    }
    for (const statement of migration.statements) await client.execute(statement);
    await client.execute(
      `INSERT INTO ${options.keyspace}.schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
      [migration.version, migration.name, migration.checksum, new Date()],
      { prepare: true },
    );
    result.applied.push(migration.name);
    log(`applied ${migration.name}`);
  }
  return result;
}
