import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt, newId, ulidTime } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { type CassandraClient, createCassandraClient, createDb } from '../../src/store/client.js';
import { createGroupRepository } from '../../src/store/groups.js';
import { createIdempotencyRepository } from '../../src/store/idempotency.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createReceiptRepository } from '../../src/store/receipts.js';
import { createUserRepository } from '../../src/store/users.js';
import { testEnv } from '../support/env.js';

const MINUTE = 60_000;

describe('repositories round-trip every table through prepared statements', () => {
  const config = loadConfig(testEnv());
  let client: CassandraClient;
  let db: ReturnType<typeof createDb>;

  beforeAll(async () => {
    client = createCassandraClient(config.cassandra);
    await client.connect();
    db = createDb(client);
  });
  afterAll(async () => client.shutdown());

  it('users and users_by_username: insert, claim, find, delete', async () => {
    const users = createUserRepository(db);
    const id = newId();
    const username = `rt_${id.slice(-8).toLowerCase()}`;
    const record = { id, username, displayName: 'Round Trip', passwordHash: 'scrypt$x', createdAt: 1_700_000_000_123 };
    await users.insert(record);
    expect(await users.findById(id)).toEqual(record);
    expect(await users.claimUsername(username.toUpperCase(), id)).toBe(true);
    expect(await users.claimUsername(username, newId())).toBe(false);
    expect(await users.findIdByUsername(username.toUpperCase())).toBe(id);
    expect(await users.findManyByIds([id])).toEqual([
      { id, username, displayName: 'Round Trip', createdAt: record.createdAt },
    ]);
    await users.delete(id);
    expect(await users.findById(id)).toBeUndefined();
  });

  it('groups, group_members and groups_by_user: create, list, add once, remove', async () => {
    const groups = createGroupRepository(db);
    const [owner, member, late] = [newId(), newId(), newId()];
    const group = { id: newId(), name: 'Round trip', description: null, ownerId: owner, createdAt: 1_700_000_000_000 };
    await groups.create(group, [
      { groupId: group.id, userId: owner, role: 'owner', joinedAt: group.createdAt },
      { groupId: group.id, userId: member, role: 'member', joinedAt: group.createdAt },
    ]);
    expect(await groups.findById(group.id)).toEqual(group);
    expect(await groups.countMembers(group.id)).toBe(2);
    expect((await groups.listMembers(group.id)).map((m) => [m.userId, m.role]).sort()).toEqual(
      [
        [owner, 'owner'],
        [member, 'member'],
      ].sort(),
    );
    const lateMember = { groupId: group.id, userId: late, role: 'member' as const, joinedAt: 1_700_000_001_000 };
    const addedAt = BigInt(Date.now()) * 1000n;
    await groups.addMember(lateMember, addedAt);
    expect(await groups.findMember(group.id, late)).toEqual(lateMember);
    expect(await groups.listGroupIdsOfUser(late)).toEqual([group.id]);
    await groups.removeMember(group.id, late, addedAt + 1n);
    // A retry of the add at its own timestamp (after a timeout) cannot undo the later removal.
    await groups.addMember(lateMember, addedAt);
    expect(await groups.findMember(group.id, late)).toBeUndefined();
    expect(await groups.listGroupIdsOfUser(late)).toEqual([]);
  });

  it('messages and conversation_buckets: stored messages come back by page and by id, buckets indexed', async () => {
    const messages = createMessageRepository(db);
    const conversationId = directConversationId(newId(), newId());
    const base = Date.UTC(2026, 0, 1);
    const stored: StoredMessage[] = [0, 1, 5].map((minute) => {
      const id = idAt(base + minute * MINUTE);
      return {
        id,
        conversationId,
        senderId: newId(),
        receiverId: newId(),
        groupId: null,
        content: `m${minute}`,
        createdAt: ulidTime(id),
        clientTimestamp: minute === 0 ? null : base,
      };
    });
    for (const message of stored) await messages.insert(message, bucketForMessage(message.id, MINUTE));
    expect((await messages.listBuckets(conversationId)).map((b) => b.start)).toEqual([
      base + 5 * MINUTE,
      base + MINUTE,
      base,
    ]);
    const page = await messages.page({
      conversationId,
      lowId: '00000000000000000000000000',
      highId: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      exclude: undefined,
      order: 'desc',
      limit: 10,
    });
    expect(page).toEqual([...stored].reverse());
    expect(await messages.findById(conversationId, stored[1]?.id ?? '')).toEqual(stored[1]);
  });

  it('messages: finds a message by id also when the window length changed since it was written', async () => {
    const messages = createMessageRepository(db);
    const conversationId = directConversationId(newId(), newId());
    const id = idAt(Date.UTC(2026, 1, 3, 15, 30));
    const message: StoredMessage = {
      id,
      conversationId,
      senderId: newId(),
      receiverId: newId(),
      groupId: null,
      content: 'written under a one-day window',
      createdAt: ulidTime(id),
      clientTimestamp: null,
    };
    await messages.insert(message, bucketForMessage(id, 24 * 60 * MINUTE));
    // Today's window is one minute: the guessed bucket is empty, the bucket index knows better.
    expect(await messages.findById(conversationId, id, bucketForMessage(id, MINUTE))).toEqual(message);
    expect(
      await messages.findById(conversationId, idAt(Date.UTC(2026, 1, 3, 15, 31)), bucketForMessage(id, MINUTE)),
    ).toBeUndefined();
  });

  it('receipts: lists every participant of a large conversation, past one page of results', async () => {
    const receipts = createReceiptRepository(db);
    const conversationId = newId();
    const messageId = newId();
    const userIds = Array.from({ length: 1_250 }, () => newId());
    for (let i = 0; i < userIds.length; i += 50) {
      await Promise.all(
        userIds.slice(i, i + 50).map((userId) => receipts.advance(conversationId, userId, messageId, 'read')),
      );
    }
    const listed = await receipts.listForConversation(conversationId);
    expect(listed.map((receipt) => receipt.userId).sort()).toEqual([...userIds].sort());
  });

  it('receipts: the highest message id wins whatever order the writes arrive in', async () => {
    const receipts = createReceiptRepository(db);
    const conversationId = directConversationId(newId(), newId());
    const userId = conversationId.slice(3, 29);
    const ids = [newId(), newId(), newId()];
    const [low, mid, high] = ids as [string, string, string];
    await receipts.advance(conversationId, userId, high, 'delivered');
    await receipts.advance(conversationId, userId, low, 'delivered');
    await receipts.advance(conversationId, userId, mid, 'read');
    expect(await receipts.find(conversationId, userId)).toEqual({
      conversationId,
      userId,
      deliveredUpTo: high,
      readUpTo: mid,
    });
    expect(await receipts.listForConversation(conversationId)).toHaveLength(1);
  });

  /** A group message with fresh ids, as a claim holds it. */
  const groupMessage = (content: string): StoredMessage => {
    const id = newId();
    return {
      id,
      conversationId: newId(),
      senderId: newId(),
      receiverId: null,
      groupId: newId(),
      content,
      createdAt: ulidTime(id),
      clientTimestamp: 1_700_000_000_000,
    };
  };

  it('message_idempotency: the first claim wins and later claims get the stored message back', async () => {
    const idempotency = createIdempotencyRepository(db);
    const message = groupMessage('once');
    const id = message.id;
    const key = `key-${id}`;
    expect(await idempotency.claim(key, 'hash-a', message, 1234n)).toEqual({ kind: 'claimed' });
    expect(await idempotency.claim(key, 'hash-b', { ...message, id: newId(), content: 'twice' }, 99n)).toEqual({
      kind: 'existing',
      requestHash: 'hash-a',
      message,
      state: 'pending',
      writeTs: 1234n,
    });
  });

  it('message_idempotency: only the attempt whose id the claim holds flips it to stored; a take-over moves it', async () => {
    const idempotency = createIdempotencyRepository(db);
    const message: StoredMessage = { ...groupMessage('flip'), clientTimestamp: null };
    const id = message.id;
    const key = `key-${id}`;
    await idempotency.claim(key, 'hash', message, 1n);
    const fresh = newId();
    expect(
      await idempotency.takeOver(message.senderId, key, { id, state: 'pending' }, { id: fresh, writeTs: 2n }),
    ).toBe(true);
    // The superseded attempt can no longer confirm; a second take-over from the old id loses.
    expect(await idempotency.markStored(message.senderId, key, id)).toBe(false);
    expect(
      await idempotency.takeOver(message.senderId, key, { id, state: 'pending' }, { id: newId(), writeTs: 3n }),
    ).toBe(false);
    expect(await idempotency.markStored(message.senderId, key, fresh)).toBe(true);
    // Asking again (a lost answer retried) still says stored.
    expect(await idempotency.markStored(message.senderId, key, fresh)).toBe(true);
  });

  it('runs statements at the configured consistency (LOCAL_QUORUM by default)', async () => {
    const result = await db.execute('SELECT release_version FROM system.local', []);
    expect(result.info.achievedConsistency).toBe(cassandra.types.consistencies.localQuorum);
    const one = createCassandraClient(loadConfig(testEnv({ CASSANDRA_CONSISTENCY: 'ONE' })).cassandra);
    try {
      const answered = await createDb(one).execute('SELECT release_version FROM system.local', []);
      expect(answered.info.achievedConsistency).toBe(cassandra.types.consistencies.one);
    } finally {
      await one.shutdown();
    }
  });

  it('runs repository queries as prepared statements (Cassandra lists them in system.prepared_statements)', async () => {
    const prepared = await client.execute('SELECT query_string FROM system.prepared_statements');
    const queries = prepared.rows.map((row) => String(row.query_string));
    for (const fragment of [
      'INSERT INTO messages (conversation_id, bucket, message_id',
      'UPDATE receipts SET delivered_up_to = ?',
      'INSERT INTO users_by_username (username, user_id) VALUES (?, ?) IF NOT EXISTS',
      'SELECT group_id, user_id, role, joined_at, owner_id FROM group_members WHERE group_id = ?',
    ]) {
      expect(queries.some((query) => query.includes(fragment))).toBe(true);
    }
  });
});
