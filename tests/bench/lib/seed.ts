import cassandra from 'cassandra-driver';
import { bucketForMessage } from '../../../src/domain/buckets.js';
import { directConversationId } from '../../../src/domain/conversations.js';
import { idAt, newId } from '../../../src/domain/ids.js';
import { DUMMY_PASSWORD_HASH } from '../../../src/services/passwords.js';
import { createTokenService } from '../../../src/services/tokens.js';
import { type CassandraClient, createDb } from '../../../src/store/client.js';
import { createSessionRepository } from '../../../src/store/sessions.js';
import type { BenchHttp } from './http.js';
import { forEachConcurrent } from './load.js';
import { BENCH_JWT_SECRET } from './stack.js';

/**
 * Seeding for the benchmark. Users are written straight into Cassandra and given tokens signed
 * with the bench secret (registration's scrypt would dominate set-up and is not what we measure);
 * groups are created through the API; history is bulk-loaded with the driver.
 */

/** The statement the message repository writes with (src/store/messages.ts); keep them identical. */
export const INSERT_MESSAGE =
  'INSERT INTO messages (conversation_id, bucket, message_id, sender_id, receiver_id, group_id, content, client_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_BUCKET = 'INSERT INTO conversation_buckets (conversation_id, bucket, bucket_ms) VALUES (?, ?, ?)';
const INSERT_USER =
  'INSERT INTO users (user_id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)';

export interface SeedUser {
  id: string;
  token: string;
}

export interface SeedConversation {
  id: string;
  kind: 'direct' | 'group';
  memberIds: string[];
}

const TOKEN_TTL_SECONDS = 24 * 60 * 60;
// Only signs here; the server under test checks each token's session, which seedUsers writes.
const tokens = createTokenService({
  secret: BENCH_JWT_SECRET,
  ttlSeconds: TOKEN_TTL_SECONDS,
  sessions: async () => true,
});

/** `count` users with bearer tokens. */
export async function seedUsers(client: CassandraClient, count: number, label: string): Promise<SeedUser[]> {
  const now = new Date();
  const ids = Array.from({ length: count }, () => newId());
  const rows = ids.map((id, i) => [
    id,
    `bench_${label}_${i}_${id.slice(-6).toLowerCase()}`,
    `Bench ${i}`,
    DUMMY_PASSWORD_HASH,
    now,
  ]);
  await cassandra.concurrent.executeConcurrent(client, INSERT_USER, rows, { concurrencyLevel: 64 });
  const sessions = createSessionRepository(createDb(client));
  const users: SeedUser[] = new Array(ids.length);
  await forEachConcurrent(ids, 64, async (id, index) => {
    const sessionId = newId();
    await sessions.insertSession({
      userId: id,
      sessionId,
      createdAt: Date.now(),
      currentHash: `bench-${sessionId}`,
      ttlSeconds: TOKEN_TTL_SECONDS * 2,
    });
    users[index] = { id, token: await tokens.issue(id, sessionId) };
  });
  return users;
}

/** A one-to-one conversation between two users. */
export function directConversation(a: SeedUser, b: SeedUser): SeedConversation {
  return { id: directConversationId(a.id, b.id), kind: 'direct', memberIds: [a.id, b.id] };
}

/** Creates groups through the API (POST /api/v1/groups, the first member as owner). */
export async function createGroups(
  http: BenchHttp,
  memberLists: SeedUser[][],
  concurrency = 4,
): Promise<SeedConversation[]> {
  const groups: SeedConversation[] = new Array(memberLists.length);
  await forEachConcurrent(memberLists, concurrency, async (members, index) => {
    const [owner, ...others] = members;
    if (!owner) throw new Error('a group needs an owner');
    const created = await http.request<{ group: { id: string } }>('POST', '/api/v1/groups', {
      token: owner.token,
      body: { name: `bench group ${index}`, memberIds: others.map((user) => user.id) },
    });
    groups[index] = { id: created.group.id, kind: 'group', memberIds: members.map((user) => user.id) };
  });
  return groups;
}

/** A message body of fixed length, so every scenario moves the same bytes. */
export const messageContent = (tag: string) => `${tag} `.padEnd(120, 'lorem ipsum dolor sit amet ');

/** Rows per unlogged batch (one partition each; ~20 KB, under Cassandra's 50 KB batch_size_fail_threshold). */
const BATCH_ROWS = 100;

export interface BulkLoadResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Ids per conversation, newest first (only when asked for). */
  ids: Map<string, string[]>;
}

/**
 * Writes `perConversation` messages into each conversation with the driver (unlogged batches of
 * one partition each), spread evenly over [endMs - spanMs, endMs) so they fall into several
 * buckets, plus the bucket index rows the API reads. Rows go in chunks to keep memory flat at
 * 10^7 rows.
 */
export async function bulkLoadMessages(
  client: CassandraClient,
  conversations: readonly SeedConversation[],
  perConversation: number,
  options: { spanMs: number; endMs: number; bucketMs: number; keepIds?: boolean; concurrency?: number },
): Promise<BulkLoadResult> {
  const started = performance.now();
  const ids = new Map<string, string[]>();
  const step = Math.max(1, Math.floor(options.spanMs / perConversation));
  const content = messageContent('history');
  // Rows of one partition (conversation, bucket) go as one unlogged batch: a single mutation for
  // Cassandra, ~3× the rows/s of one statement per row, which makes 10^7 rows a matter of minutes.
  let batches: unknown[][][] = [];
  let buckets: unknown[][] = [];
  let pending = 0;
  let rows = 0;
  const flush = async () => {
    // executeConcurrent and batch prepare; consistency is the client's default.
    const concurrencyLevel = options.concurrency ?? 128;
    await cassandra.concurrent.executeConcurrent(client, INSERT_BUCKET, buckets, { concurrencyLevel });
    await forEachConcurrent(batches, Math.min(32, concurrencyLevel), async (batch) => {
      await client.batch(
        batch.map((params) => ({ query: INSERT_MESSAGE, params })),
        { prepare: true, logged: false },
      );
    });
    rows += pending;
    pending = 0;
    batches = [];
    buckets = [];
  };
  for (const conversation of conversations) {
    const seen = new Set<number>();
    const oldestFirst: string[] = [];
    const isGroup = conversation.kind === 'group';
    let batch: unknown[][] = [];
    for (let i = 0; i < perConversation; i++) {
      // idAt, not ulid(time): the ulid package asks crypto for each character (~110 µs an id here).
      const id = idAt(options.endMs - options.spanMs + i * step);
      const bucket = bucketForMessage(id, options.bucketMs);
      if (!seen.has(bucket.start)) {
        seen.add(bucket.start);
        buckets.push([conversation.id, new Date(bucket.start), bucket.lengthMs]);
        if (batch.length > 0) batches.push(batch);
        batch = [];
      }
      const sender = conversation.memberIds[i % conversation.memberIds.length] as string;
      const receiver = isGroup ? cassandra.types.unset : conversation.memberIds.find((member) => member !== sender);
      const group = isGroup ? conversation.id : cassandra.types.unset;
      batch.push([
        conversation.id,
        new Date(bucket.start),
        id,
        sender,
        receiver,
        group,
        content,
        cassandra.types.unset,
      ]);
      pending++;
      if (batch.length >= BATCH_ROWS) {
        batches.push(batch);
        batch = [];
      }
      if (options.keepIds) oldestFirst.push(id);
    }
    if (batch.length > 0) batches.push(batch);
    if (options.keepIds) ids.set(conversation.id, oldestFirst.reverse());
    if (pending >= 20_000) await flush();
  }
  await flush();
  const seconds = (performance.now() - started) / 1000;
  return { rows, seconds, rowsPerSecond: rows / seconds, ids };
}
