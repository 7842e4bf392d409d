import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { recordCassandraCalls } from '../support/cassandra-calls.js';
import { commandCalls } from '../support/redis-commandstats.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * What one 1:1 send costs in statements and commands, with the receiver connected (issue 15's
 * "count them, and fail if a send issues more than its budget"). The budget is today's design,
 * written out statement by statement; a change that adds a round trip to the hot path fails here
 * and has to change the budget (and tests/bench/README.md, "What one message costs") on purpose.
 */

/**
 * Cassandra statements of a plain 1:1 send once its conversation is known to the node, with the
 * block check uncached (BLOCK_CHECK_CACHE_MS=0 here, so the count does not depend on how long the
 * test takes; in production each read is cached per pair for 2 s).
 */
const PLAIN_SEND = [
  'SELECT FROM blocks_by_user', // may the sender write to the receiver (services/blocks.ts)
  'SELECT FROM blocks_by_user', // the same, again before the live push (a block that landed meanwhile)
  'INSERT INTO pending_sends', // the guard's pending row (sync)
  'UPDATE conversation_activity', // the inbox's order, alongside the pending row
  'INSERT INTO messages', // the message
];
/** With a clientMessageId: the claim (a lightweight transaction) and its flip to stored. */
const IDEMPOTENT_SEND = ['INSERT INTO message_idempotency', ...PLAIN_SEND, 'UPDATE message_idempotency'];

/**
 * Redis commands of a send, as Redis counts them (a script's own calls included): one round trip
 * for the cache write-through script (here only its EXISTS runs: nobody has read the conversation,
 * so there is no window to append to) and one PUBLISH per participant's user channel (the
 * receiver's devices and the sender's other devices).
 */
const REDIS_PER_SEND = { evalsha: 1, exists: 1, publish: 2 };

/**
 * Cassandra statements of the receiver's `ack` of a delivered 1:1 message (the documented client
 * loop acks every message it receives), in order: the message must exist in the conversation,
 * the caller's inbox change (before the move: src/services/messages/receipts.ts says why), the
 * watermark, and the watermark read back for the answer.
 */
const ACK = ['SELECT FROM messages', 'UPDATE inbox_changes_by_user', 'UPDATE receipts', 'SELECT FROM receipts'];

/** "INSERT INTO ks.messages (…" → "INSERT INTO messages": verb and table, without the keyspace. */
function statementKind(query: string): string {
  const match = /^\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM)\s+(?:\w+\.)?(\w+)/is.exec(query);
  if (!match) return query.slice(0, 40);
  const verb = match[1]?.toUpperCase().startsWith('SELECT') ? 'SELECT FROM' : match[1]?.toUpperCase();
  return `${verb} ${match[2]}`;
}

describe('the cost of one send', () => {
  let redis: RedisChild;
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;
  let bobSocket: TestSocket;
  let aliceSocket: TestSocket;

  beforeAll(async () => {
    redis = await startRedisChild();
    // Background Redis work (presence refresh, membership reconciliation, session checks) far
    // apart, so the counted window holds only what the sends themselves do.
    server = await startServer({
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '2000',
      PRESENCE_TTL_SECONDS: '600',
      BLOCK_CHECK_CACHE_MS: '0',
      WS_MEMBERSHIP_RECONCILE_MS: '3600000',
      WS_SESSION_CHECK_MS: '3600000',
    });
    api = apiClient(server.url);
    [alice, bob] = await Promise.all([registerUser(api, 'cost'), registerUser(api, 'cost')]);
    [bobSocket, aliceSocket] = await Promise.all([
      connectWs(server.url, bob.token),
      connectWs(server.url, alice.token),
    ]);
    // The first send of a conversation also lists it for both users (once per node).
    const first = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'first' }, alice.token);
    expect(first.status).toBe(201);
    await bobSocket.waitFor('message.created', (data) => data.message.id === first.body.message.id);
  });
  afterAll(async () => {
    await Promise.all([bobSocket?.close(), aliceSocket?.close()]);
    await server?.close();
    await redis?.close();
  });

  async function sendAndDeliver(body: Record<string, unknown>) {
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, ...body }, alice.token);
    expect(sent.status).toBe(201);
    await bobSocket.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
  }

  it('issues exactly its budget of Cassandra statements, plain and idempotent', async () => {
    // Every statement but the sync reporter's own position writes and reads (every 100 ms).
    const calls = recordCassandraCalls(server.container, (query) => !query.includes('sync_positions'));
    try {
      for (let i = 0; i < 5; i++) {
        calls.reset();
        await sendAndDeliver({ content: `plain ${i}` });
        expect(calls.recorded.flatMap((call) => call.queries.map(statementKind)).sort()).toEqual(
          [...PLAIN_SEND].sort(),
        );
      }
      for (let i = 0; i < 5; i++) {
        calls.reset();
        await sendAndDeliver({ content: `keyed ${i}`, clientMessageId: `budget-${Date.now()}-${i}` });
        expect(calls.recorded.flatMap((call) => call.queries.map(statementKind)).sort()).toEqual(
          [...IDEMPOTENT_SEND].sort(),
        );
      }
    } finally {
      calls.restore();
    }
  });

  it('costs four statements for the receiver to acknowledge delivery', async () => {
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'to ack' }, alice.token);
    expect(sent.status).toBe(201);
    const message = sent.body.message;
    await bobSocket.waitFor('message.created', (data) => data.message.id === message.id);
    const calls = recordCassandraCalls(server.container, (query) => !query.includes('sync_positions'));
    try {
      bobSocket.send({ type: 'ack', data: { conversationId: message.conversationId, messageId: message.id } });
      // Alice is the one told (her peer's watermark); she listens on her own socket.
      await aliceSocket.waitFor('message.status', (data) => data.deliveredUpTo === message.id);
      expect(calls.recorded.flatMap((call) => call.queries.map(statementKind))).toEqual(ACK);
    } finally {
      calls.restore();
    }
  });

  it('issues one cache write-through and one publish per participant, and nothing else', async () => {
    const before = await commandCalls(redis.admin);
    const sends = 10;
    for (let i = 0; i < sends; i++) await sendAndDeliver({ content: `counted ${i}` });
    const after = await commandCalls(redis.admin);
    const used = new Map<string, number>();
    for (const [name, calls] of after) {
      const delta = calls - (before.get(name) ?? 0);
      // INFO itself (our own probe) is not the send's.
      if (delta > 0 && name !== 'info') used.set(name, delta);
    }
    expect(Object.fromEntries(used)).toEqual(
      Object.fromEntries(Object.entries(REDIS_PER_SEND).map(([name, perSend]) => [name, perSend * sends])),
    );
  });
});
