import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { settledPast } from '../support/sync.js';

const MINUTE = 60_000;
const FIRST_ID = '00000000000000000000000000';

/** A small deterministic PRNG, so a failing layout can be reproduced. */
function prng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Page {
  messages: Array<{ id: string; content: string; senderId: string; createdAt: string }>;
  nextCursor: string | null;
}

describe('GET /api/v1/messages: cursor pagination across many buckets', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer({ MESSAGE_BUCKET_MS: String(MINUTE) });
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  /**
   * Writes `count` messages straight through the repository at chosen past times: clusters of
   * 1–5 messages (now and then 25–44) a few hundred ms apart, some in the same millisecond,
   * separated by runs of 0–300 empty one-minute buckets and a few runs of thousands. Returns them
   * oldest first.
   */
  async function seedHistory(
    conversationId: string,
    senders: [string, string] | { groupId: string; senderIds: string[] },
    count: number,
    seed: number,
  ): Promise<StoredMessage[]> {
    const random = prng(seed);
    const repository = createMessageRepository(server.container.deps.db);
    const messages: StoredMessage[] = [];
    let time = Date.now() - 60 * 24 * 60 * MINUTE + Math.floor(random() * MINUTE);
    while (messages.length < count) {
      // Mostly sparse buckets; now and then a dense one that takes several pages by itself.
      const cluster = random() < 0.06 ? 25 + Math.floor(random() * 20) : 1 + Math.floor(random() * 5);
      for (let i = 0; i < cluster && messages.length < count; i++) {
        // Roughly one message in three shares its millisecond with the one before.
        if (i > 0 && random() > 0.33) time += 1 + Math.floor(random() * 500);
        const id = idAt(time);
        const n = messages.length;
        const message: StoredMessage = Array.isArray(senders)
          ? {
              id,
              conversationId,
              senderId: senders[n % 2] as string,
              receiverId: senders[(n + 1) % 2] as string,
              groupId: null,
              content: `message ${n}`,
              createdAt: time,
              clientTimestamp: n % 3 === 0 ? time - 1234 : null,
            }
          : {
              id,
              conversationId,
              senderId: senders.senderIds[n % senders.senderIds.length] as string,
              receiverId: null,
              groupId: senders.groupId,
              content: `message ${n}`,
              createdAt: time,
              clientTimestamp: null,
            };
        messages.push(message);
      }
      const gap = random() < 0.05 ? 2000 + Math.floor(random() * 5000) : Math.floor(random() * 300);
      time += (gap + 1) * MINUTE;
    }
    // A handful of writers at a time: the same code path as the send endpoint, bounded.
    for (let i = 0; i < messages.length; i += 16) {
      await Promise.all(
        messages.slice(i, i + 16).map((message) => repository.insert(message, bucketForMessage(message.id, MINUTE))),
      );
    }
    return [...messages].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async function page(caller: TestUser, query: string): Promise<Page> {
    const response = await api.get(`/api/v1/messages?${query}`, caller.token);
    if (response.status !== 200) throw new Error(`page ${query}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as Page;
  }

  /**
   * Follows nextCursor to the end. Checks on the way that every page but the last is full, that
   * the last one's nextCursor is null, and that the cursor is the last id of its page.
   */
  async function walk(
    caller: TestUser,
    base: string,
    limit: number,
    direction: 'before' | 'after',
    start?: string,
    between?: () => Promise<void>,
  ): Promise<string[]> {
    const ids: string[] = [];
    let cursor = start;
    for (let pages = 0; pages < 1000; pages++) {
      const result = await page(caller, `${base}&limit=${limit}${cursor ? `&${direction}=${cursor}` : ''}`);
      ids.push(...result.messages.map((message) => message.id));
      if (result.nextCursor === null) return ids;
      expect(result.messages).toHaveLength(limit);
      expect(result.nextCursor).toBe(result.messages[result.messages.length - 1]?.id);
      cursor = result.nextCursor;
      await between?.();
    }
    throw new Error('paging did not end');
  }

  const expectNoRepeats = (ids: string[]) => expect(new Set(ids).size).toBe(ids.length);

  describe('a one-to-one conversation of 322 messages over many one-minute buckets', () => {
    let alice: TestUser;
    let bob: TestUser;
    let conversationId: string;
    let oldestFirst: StoredMessage[];
    let ascending: string[];
    let descending: string[];

    beforeAll(async () => {
      [alice, bob] = (await Promise.all([registerUser(api, 'page'), registerUser(api, 'page')])) as [
        TestUser,
        TestUser,
      ];
      conversationId = directConversationId(alice.id, bob.id);
      oldestFirst = await seedHistory(conversationId, [alice.id, bob.id], 322, 0x5eed);
      ascending = oldestFirst.map((message) => message.id);
      descending = [...ascending].reverse();
    });

    it('spreads the history over many buckets with long runs of empty ones between them', () => {
      const buckets = new Set(oldestFirst.map((message) => bucketForMessage(message.id, MINUTE).start));
      expect(buckets.size).toBeGreaterThan(60);
      const starts = [...buckets].sort((a, b) => a - b);
      const longestGap = Math.max(...starts.slice(1).map((start, i) => start - (starts[i] as number)));
      expect(longestGap).toBeGreaterThan(1000 * MINUTE);
    });

    it.each([1, 7, 23, 50, 100])('pages newest first with limit %i: every message once, in order', async (limit) => {
      const ids = await walk(alice, `peerId=${bob.id}`, limit, 'before');
      expectNoRepeats(ids);
      expect(ids).toEqual(descending);
    });

    it.each([1, 9, 14, 100])(
      'pages oldest first with after and limit %i: every message once, in order',
      async (limit) => {
        const ids = await walk(bob, `conversationId=${conversationId}`, limit, 'after', FIRST_ID);
        expectNoRepeats(ids);
        expect(ids).toEqual(ascending);
      },
    );

    it('answers null nextCursor on the page that holds the last message, also when it is full', async () => {
      // 322 = 14 × 23: the 14th page is full and still the last.
      const last = await page(alice, `peerId=${bob.id}&limit=23&after=${ascending[322 - 24]}`);
      expect(last.messages).toHaveLength(23);
      expect(last.nextCursor).toBeNull();
      const notLast = await page(alice, `peerId=${bob.id}&limit=23&after=${ascending[322 - 25]}`);
      expect(notLast.messages).toHaveLength(23);
      expect(notLast.nextCursor).toBe(ascending[321 - 1]);
      const oldest = await page(alice, `peerId=${bob.id}&limit=5&before=${ascending[5]}`);
      expect(oldest.messages.map((m) => m.id)).toEqual(ascending.slice(0, 5).reverse());
      expect(oldest.nextCursor).toBeNull();
    });

    it('starts from any cursor, excluding it, in both directions', async () => {
      for (const index of [0, 1, 57, 160, 161, 320, 321]) {
        const cursor = ascending[index] as string;
        expect(await walk(alice, `peerId=${bob.id}`, 11, 'before', cursor)).toEqual(
          ascending.slice(0, index).reverse(),
        );
        expect(await walk(alice, `peerId=${bob.id}`, 11, 'after', cursor)).toEqual(ascending.slice(index + 1));
      }
    });

    it('treats a cursor that is not a message id as a position in time', async () => {
      const between = oldestFirst[100] as StoredMessage;
      // An id just after message 100 in the same millisecond range, that no message has.
      const cursor = `${between.id.slice(0, 25)}${between.id.endsWith('Z') ? 'Y' : 'Z'}`;
      const before = await walk(alice, `peerId=${bob.id}`, 40, 'before', cursor);
      const after = await walk(alice, `peerId=${bob.id}`, 40, 'after', cursor);
      expectNoRepeats([...before, ...after]);
      expect([...before].reverse().concat(after).sort()).toEqual(ascending.filter((id) => id !== cursor));
    });

    it('returns every field of the stored messages', async () => {
      const first = await page(bob, `peerId=${alice.id}&limit=100`);
      const stored = new Map(oldestFirst.map((message) => [message.id, message]));
      for (const message of first.messages) {
        const original = stored.get(message.id) as StoredMessage;
        expect(message).toEqual({
          id: original.id,
          conversationId,
          senderId: original.senderId,
          receiverId: original.receiverId,
          groupId: null,
          content: original.content,
          createdAt: new Date(original.createdAt).toISOString(),
          clientTimestamp: original.clientTimestamp === null ? null : new Date(original.clientTimestamp).toISOString(),
          status: 'sent',
          editedAt: null,
          deletedAt: null,
          reactions: [],
          replyToId: null,
          threadId: null,
          thread: null,
        });
      }
    });

    it('reads one partition per bucket a page touches, and none of the empty ones', async () => {
      const db = server.container.deps.db;
      const statements: string[] = [];
      const counting = {
        ...db,
        execute: (query: string, params: unknown[], options?: object) => {
          statements.push(query);
          return db.execute(query, params, options);
        },
      } as typeof db;
      const repository = createMessageRepository(counting);
      for (const [order, limit, cursorIndex] of [
        ['desc', 5, 321],
        ['desc', 30, 200],
        ['asc', 8, 0],
        ['asc', 40, 150],
      ] as const) {
        statements.length = 0;
        const cursor = ascending[cursorIndex] as string;
        const page = await repository.page({
          conversationId,
          lowId: order === 'asc' ? cursor : FIRST_ID,
          highId: order === 'desc' ? cursor : '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
          exclude: cursor,
          order,
          limit,
        });
        const expected =
          order === 'desc' ? ascending.slice(0, cursorIndex).reverse() : ascending.slice(cursorIndex + 1);
        expect(page.map((message) => message.id)).toEqual(expected.slice(0, limit));
        // The cursor's own bucket is read too: it may hold neighbours of the cursor.
        const touched = new Set(
          [cursor, ...page.map((message) => message.id)].map((id) => bucketForMessage(id, MINUTE).start),
        ).size;
        const messageReads = statements.filter((query) => query.includes('FROM messages')).length;
        expect(messageReads).toBe(touched);
        expect(statements.filter((query) => query.includes('ALLOW FILTERING'))).toEqual([]);
      }
    });

    it('defaults to 50 messages, newest first', async () => {
      const first = await page(alice, `peerId=${bob.id}`);
      expect(first.messages.map((m) => m.id)).toEqual(descending.slice(0, 50));
      expect(first.nextCursor).toBe(descending[49]);
    });
  });

  describe('while new messages arrive', () => {
    let alice: TestUser;
    let carol: TestUser;
    let seeded: string[];

    beforeAll(async () => {
      [alice, carol] = (await Promise.all([registerUser(api, 'live'), registerUser(api, 'live')])) as [
        TestUser,
        TestUser,
      ];
      seeded = (await seedHistory(directConversationId(alice.id, carol.id), [alice.id, carol.id], 60, 0xcafe)).map(
        (message) => message.id,
      );
    });

    const sendNow = async (text: string) => {
      const response = await api.post('/api/v1/messages', { receiverId: carol.id, content: text }, alice.token);
      expect(response.status).toBe(201);
      const id = response.body.message.id as string;
      // Catch-up pages return a message once every send below it has settled (a fraction of a second).
      await settledPast(server.container, id);
      return id;
    };

    it('pages newest first without skipping or repeating, and a catch-up from the top finds exactly the new ones', async () => {
      const before = (await page(carol, `peerId=${alice.id}&limit=1`)).messages[0]?.id as string;
      const arrived: string[] = [];
      const ids = await walk(carol, `peerId=${alice.id}`, 6, 'before', undefined, async () => {
        arrived.push(await sendNow(`during descending paging ${arrived.length}`));
      });
      expectNoRepeats(ids);
      const expected = [...seeded, ...(await walk(carol, `peerId=${alice.id}`, 100, 'after', seeded[59]))]
        .filter((id) => id <= before)
        .reverse();
      expect(ids).toEqual(expected);
      const caughtUp = await walk(carol, `peerId=${alice.id}`, 4, 'after', before);
      expect(caughtUp.slice(-arrived.length)).toEqual(arrived);
      expect(caughtUp.every((id) => id > before)).toBe(true);
    });

    it('pages oldest first up to the newest message, including those sent while paging, each once', async () => {
      const arrived: string[] = [];
      const ids = await walk(alice, `peerId=${carol.id}`, 7, 'after', FIRST_ID, async () => {
        if (arrived.length < 15) arrived.push(await sendNow(`during ascending paging ${arrived.length}`));
      });
      expectNoRepeats(ids);
      const everything = [...(await walk(alice, `peerId=${carol.id}`, 100, 'before'))].reverse();
      expect(ids).toEqual(everything);
      for (const id of [...seeded, ...arrived]) expect(ids).toContain(id);
    });
  });

  describe('a group conversation', () => {
    it('pages a group history over many buckets in both directions, by groupId and by conversationId', async () => {
      const [owner, member] = (await Promise.all([registerUser(api, 'gpage'), registerUser(api, 'gpage')])) as [
        TestUser,
        TestUser,
      ];
      const group = await api.post('/api/v1/groups', { name: 'Paged', memberIds: [member.id] }, owner.token);
      const groupId = group.body.group.id as string;
      const stored = await seedHistory(groupId, { groupId, senderIds: [owner.id, member.id] }, 45, 0xbeef);
      const ascending = stored.map((message) => message.id);
      expect(await walk(member, `groupId=${groupId}`, 4, 'before')).toEqual([...ascending].reverse());
      expect(await walk(owner, `conversationId=${groupId}`, 4, 'after', FIRST_ID)).toEqual(ascending);
    });
  });

  describe('writes', () => {
    it('write the bucket index only for a bucket that is new to the conversation', async () => {
      const db = server.container.deps.db;
      const statements: string[] = [];
      const counting = {
        ...db,
        execute: (query: string, params: unknown[], options?: object) => {
          statements.push(query);
          return db.execute(query, params, options);
        },
      } as typeof db;
      const repository = createMessageRepository(counting);
      const conversationId = directConversationId(idAt(1_000_000), idAt(2_000_000));
      const start = Math.floor((Date.now() - 5 * 24 * 60 * MINUTE) / MINUTE) * MINUTE;
      const times = [start + 1, start + 2, start + 30_000, start + MINUTE + 5, start + MINUTE + 6, start + 90 * MINUTE];
      for (const [n, time] of times.entries()) {
        const id = idAt(time);
        await repository.insert(
          {
            id,
            conversationId,
            senderId: 'a',
            receiverId: 'b',
            groupId: null,
            content: `n${n}`,
            createdAt: time,
            clientTimestamp: null,
          },
          bucketForMessage(id, MINUTE),
        );
      }
      expect(statements.filter((query) => query.includes('INTO messages'))).toHaveLength(6);
      expect(statements.filter((query) => query.includes('INTO conversation_buckets'))).toHaveLength(3);
      expect(
        (await repository.listBuckets(conversationId)).map((bucket) => bucket.start).sort((a, b) => a - b),
      ).toEqual([start, start + MINUTE, start + 90 * MINUTE]);
    });
  });

  describe('after MESSAGE_BUCKET_MS changes', () => {
    it('still finds messages written with a longer bucket once a shorter one reuses its partition', async () => {
      const [alice, bob] = (await Promise.all([registerUser(api, 'resize'), registerUser(api, 'resize')])) as [
        TestUser,
        TestUser,
      ];
      const conversationId = directConversationId(alice.id, bob.id);
      const TEN_MINUTES = 10 * MINUTE;
      const start = Math.floor((Date.now() - 3 * 24 * 60 * MINUTE) / TEN_MINUTES) * TEN_MINUTES;
      const message = (time: number, content: string): StoredMessage => ({
        id: idAt(time),
        conversationId,
        senderId: alice.id,
        receiverId: bob.id,
        groupId: null,
        content,
        createdAt: time,
        clientTimestamp: null,
      });
      // Before the change: ten-minute buckets. After it (a restart, so a fresh repository): one minute.
      const early = message(start + 5 * MINUTE, 'written with ten-minute buckets');
      await createMessageRepository(server.container.deps.db).insert(early, bucketForMessage(early.id, TEN_MINUTES));
      const late = message(start + 30_000, 'written with one-minute buckets');
      await createMessageRepository(server.container.deps.db).insert(late, bucketForMessage(late.id, MINUTE));
      // Reads with a `to` bound or a cursor come from Cassandra, whatever a cache holds.
      const now = Date.now();
      const all = (await page(alice, `peerId=${bob.id}&to=${now}`)).messages.map((m) => m.content);
      expect(all).toEqual([early.content, late.content]);
      const ranged = await page(alice, `peerId=${bob.id}&from=${start + 4 * MINUTE}&to=${now}`);
      expect(ranged.messages.map((m) => m.content)).toEqual([early.content]);
      const newestFirst = await walk(alice, `peerId=${bob.id}&to=${now}`, 1, 'before');
      expect(newestFirst).toEqual([early.id, late.id]);
      const oldestFirst = await walk(bob, `peerId=${alice.id}`, 1, 'after', FIRST_ID);
      expect(oldestFirst).toEqual([late.id, early.id]);
    });
  });

  describe('query rules', () => {
    let alice: TestUser;
    let bob: TestUser;

    beforeAll(async () => {
      [alice, bob] = (await Promise.all([registerUser(api, 'rules'), registerUser(api, 'rules')])) as [
        TestUser,
        TestUser,
      ];
    });

    it('answers an empty page with a null cursor for a conversation without messages', async () => {
      const cursor = expect.any(String);
      expect(await page(alice, `peerId=${bob.id}`)).toEqual({ messages: [], updates: [], nextCursor: null, cursor });
      expect(await page(alice, `peerId=${bob.id}&after=${FIRST_ID}`)).toEqual({
        messages: [],
        updates: [],
        nextCursor: null,
        cursor,
      });
    });

    it('answers 400 for a limit outside 1–100', async () => {
      for (const limit of ['0', '101', '-1', '2.5', 'ten', '']) {
        expectProblem(
          await api.get(`/api/v1/messages?peerId=${bob.id}&limit=${limit}`, alice.token),
          400,
          'VALIDATION_FAILED',
        );
      }
      expect((await api.get(`/api/v1/messages?peerId=${bob.id}&limit=100`, alice.token)).status).toBe(200);
    });

    it('answers 400 for before and after together', async () => {
      const problem = expectProblem(
        await api.get(`/api/v1/messages?peerId=${bob.id}&before=${FIRST_ID}&after=${FIRST_ID}`, alice.token),
        400,
        'VALIDATION_FAILED',
      );
      expect(problem.issues.length).toBeGreaterThan(0);
    });

    it('answers 400 unless exactly one of peerId, groupId and conversationId is given', async () => {
      const conversationId = directConversationId(alice.id, bob.id);
      for (const query of [
        '',
        `peerId=${bob.id}&conversationId=${conversationId}`,
        `peerId=${bob.id}&groupId=${bob.id}`,
      ]) {
        expectProblem(await api.get(`/api/v1/messages?${query}`, alice.token), 400, 'VALIDATION_FAILED');
      }
    });

    it('answers 400 for cursors that are not ULIDs', async () => {
      expectProblem(
        await api.get(`/api/v1/messages?peerId=${bob.id}&before=latest`, alice.token),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(await api.get(`/api/v1/messages?peerId=${bob.id}&after=0`, alice.token), 400, 'VALIDATION_FAILED');
    });

    it('answers 400 for peerId equal to the caller', async () => {
      expectProblem(await api.get(`/api/v1/messages?peerId=${alice.id}`, alice.token), 400, 'VALIDATION_FAILED');
    });
  });
});
