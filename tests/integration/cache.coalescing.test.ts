import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { recordCassandraCalls } from '../support/cassandra-calls.js';
import { startServer, type TestServer } from '../support/server.js';
import { dropPrefix, inspector, isMessagePageRead, patientCache, sendDirect, uniquePrefix } from './cache.support.js';

/** Concurrent misses of one key on a node share one load (request coalescing). */
describe('cache request coalescing', () => {
  const prefix = uniquePrefix();
  let server: TestServer;
  let api: ApiClient;
  const redis = inspector();

  beforeAll(async () => {
    server = await startServer(patientCache(prefix));
    api = apiClient(server.url);
  });

  afterAll(async () => {
    await server?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('reads Cassandra once for 20 concurrent first pages of a cold conversation, and answers all of them in full', async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    let last = '';
    for (let i = 0; i < 12; i++) last = await sendDirect(api, alice, bob, `m${i}`);
    const path = `/api/v1/messages?peerId=${alice.id}&limit=20`;
    const conversationId = (await api.get(path, bob.token)).body.messages[0].conversationId as string;
    await redis.del(`${prefix}:v1:recent:{${conversationId}}`, `${prefix}:v1:receipts:{${conversationId}}`);

    const pages = recordCassandraCalls(server.container, isMessagePageRead);
    const receipts = recordCassandraCalls(server.container, (query) => query.includes('FROM receipts'));
    try {
      const responses = await Promise.all(Array.from({ length: 20 }, () => api.get(path, bob.token)));
      for (const response of responses) {
        expect(response.status).toBe(200);
        expect(response.body.messages).toHaveLength(12);
        expect(response.body.messages[0].id).toBe(last);
      }
      expect(pages.calls).toBe(1);
      expect(receipts.calls).toBe(1);

      // The counter does count: once the window is gone again, the next first page reads again.
      await redis.del(`${prefix}:v1:recent:{${conversationId}}`);
      expect((await api.get(path, bob.token)).status).toBe(200);
      expect(pages.calls).toBe(2);
    } finally {
      receipts.restore();
      pages.restore();
    }
  });
});
