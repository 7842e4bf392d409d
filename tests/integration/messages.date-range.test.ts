import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const MINUTE = 60_000;

describe('GET /api/v1/messages with from and to', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;
  /** Start of a one-minute bucket ten days ago: the edges below are around it. */
  let edge: number;
  /** Message ids by their offset from `edge` (two share offset 0), oldest first. */
  let byOffset: Array<{ offset: number; id: string }>;

  const OFFSETS = [
    -MINUTE - 1,
    -1,
    0,
    0,
    1,
    30_000,
    MINUTE - 1,
    MINUTE,
    MINUTE + 1,
    // A run of empty buckets, then the next messages.
    7 * MINUTE,
    8 * MINUTE - 1,
    500 * MINUTE,
  ];

  beforeAll(async () => {
    server = await startServer({ MESSAGE_BUCKET_MS: String(MINUTE) });
    api = apiClient(server.url);
    [alice, bob] = (await Promise.all([registerUser(api, 'range'), registerUser(api, 'range')])) as [
      TestUser,
      TestUser,
    ];
    edge = Math.floor((Date.now() - 10 * 24 * 60 * MINUTE) / MINUTE) * MINUTE;
    const conversationId = directConversationId(alice.id, bob.id);
    const repository = createMessageRepository(server.container.deps.db);
    byOffset = OFFSETS.map((offset) => ({ offset, id: idAt(edge + offset) })).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const [n, { id }] of byOffset.entries()) {
      const message: StoredMessage = {
        id,
        conversationId,
        senderId: alice.id,
        receiverId: bob.id,
        groupId: null,
        content: `at ${n}`,
        createdAt: 0,
        clientTimestamp: null,
      };
      await repository.insert(message, bucketForMessage(id, MINUTE));
    }
  });
  afterAll(async () => server?.close());

  /** Ids whose time lies in [fromOffset, toOffset], oldest first. */
  const idsBetween = (fromOffset: number, toOffset: number) =>
    byOffset.filter(({ offset }) => offset >= fromOffset && offset <= toOffset).map(({ id }) => id);

  const get = async (caller: TestUser, query: string) => {
    const response = await api.get(
      `/api/v1/messages?peerId=${caller === alice ? bob.id : alice.id}&${query}`,
      caller.token,
    );
    if (response.status !== 200) throw new Error(`${query}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as { messages: Array<{ id: string; createdAt: string }>; nextCursor: string | null };
  };

  const range = (fromOffset: number, toOffset: number) => `from=${edge + fromOffset}&to=${edge + toOffset}`;

  it('includes both ends of the range, to the millisecond, newest first', async () => {
    const page = await get(alice, `${range(0, MINUTE - 1)}&limit=100`);
    expect(page.messages.map((m) => m.id)).toEqual(idsBetween(0, MINUTE - 1).reverse());
    expect(page.messages).toHaveLength(5);
    expect(page.nextCursor).toBeNull();
  });

  it('crosses bucket edges in both directions', async () => {
    for (const [from, to] of [
      [MINUTE - 1, MINUTE],
      [-1, 0],
      [-MINUTE - 1, MINUTE + 1],
      [1, 8 * MINUTE - 1],
      [MINUTE + 1, 7 * MINUTE],
    ] as const) {
      const expected = idsBetween(from, to);
      expect((await get(alice, `${range(from, to)}&limit=100`)).messages.map((m) => m.id)).toEqual(
        [...expected].reverse(),
      );
      expect(
        (await get(bob, `${range(from, to)}&limit=100&after=00000000000000000000000000`)).messages.map((m) => m.id),
      ).toEqual(expected);
    }
  });

  it('answers every message of one millisecond when from equals to', async () => {
    const page = await get(alice, `${range(0, 0)}`);
    expect(page.messages.map((m) => m.id)).toEqual(idsBetween(0, 0).reverse());
    expect(page.messages).toHaveLength(2);
  });

  it('answers an empty page for a range over empty buckets only', async () => {
    expect(await get(alice, range(2 * MINUTE, 6 * MINUTE))).toEqual({
      messages: [],
      updates: [],
      nextCursor: null,
      cursor: null,
    });
  });

  it('takes from alone and to alone as open ranges', async () => {
    expect((await get(alice, `from=${edge + MINUTE}&limit=100`)).messages.map((m) => m.id)).toEqual(
      idsBetween(MINUTE, Number.MAX_SAFE_INTEGER).reverse(),
    );
    expect((await get(alice, `to=${edge - 1}&limit=100`)).messages.map((m) => m.id)).toEqual(
      idsBetween(Number.MIN_SAFE_INTEGER, -1).reverse(),
    );
  });

  it('reads ISO-8601 bounds like epoch milliseconds', async () => {
    const iso = (offset: number) => new Date(edge + offset).toISOString();
    const viaIso = await get(alice, `from=${iso(-1)}&to=${iso(MINUTE)}&limit=100`);
    const viaEpoch = await get(alice, `${range(-1, MINUTE)}&limit=100`);
    expect(viaIso).toEqual(viaEpoch);
    expect(viaIso.messages).toHaveLength(idsBetween(-1, MINUTE).length);
    const offsetForm = new Date(edge).toISOString().replace('Z', '+00:00');
    expect((await get(alice, `from=${encodeURIComponent(offsetForm)}&to=${edge}`)).messages).toHaveLength(2);
  });

  it('pages within a range without leaving it, nextCursor null at the range end', async () => {
    const expected = idsBetween(-1, 8 * MINUTE - 1);
    const collected: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page = await get(alice, `${range(-1, 8 * MINUTE - 1)}&limit=2${cursor ? `&before=${cursor}` : ''}`);
      collected.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(collected).toEqual([...expected].reverse());
    const ascending: string[] = [];
    cursor = '00000000000000000000000000';
    for (let i = 0; i < 20 && cursor; i++) {
      const page = await get(bob, `${range(-1, 8 * MINUTE - 1)}&limit=3&after=${cursor}`);
      ascending.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
    }
    expect(ascending).toEqual(expected);
  });

  it('answers null nextCursor when the range ends, though older or newer messages exist', async () => {
    const ids = idsBetween(0, MINUTE - 1);
    const newest = await get(alice, `${range(0, MINUTE - 1)}&limit=${ids.length}`);
    expect(newest.messages).toHaveLength(ids.length);
    expect(newest.nextCursor).toBeNull();
    const oldest = await get(alice, `${range(0, MINUTE - 1)}&limit=${ids.length}&after=00000000000000000000000000`);
    expect(oldest.nextCursor).toBeNull();
  });

  it('keeps a cursor outside the range from widening it', async () => {
    const inside = idsBetween(0, MINUTE);
    const lastId = byOffset[byOffset.length - 1]?.id as string;
    const firstId = byOffset[0]?.id as string;
    expect((await get(alice, `${range(0, MINUTE)}&before=${lastId}&limit=100`)).messages.map((m) => m.id)).toEqual(
      [...inside].reverse(),
    );
    expect((await get(alice, `${range(0, MINUTE)}&after=${firstId}&limit=100`)).messages.map((m) => m.id)).toEqual(
      inside,
    );
  });

  it('returns createdAt inside the range for every message', async () => {
    const page = await get(alice, `${range(-1, MINUTE)}&limit=100`);
    for (const message of page.messages) {
      expect(Date.parse(message.createdAt)).toBeGreaterThanOrEqual(edge - 1);
      expect(Date.parse(message.createdAt)).toBeLessThanOrEqual(edge + MINUTE);
    }
  });

  it('answers 400 when from is later than to', async () => {
    const problem = expectProblem(
      await api.get(`/api/v1/messages?peerId=${bob.id}&from=${edge + 1}&to=${edge}`, alice.token),
      400,
      'VALIDATION_FAILED',
    );
    expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('query.from');
  });

  it('answers 400 for bounds that are not times', async () => {
    for (const query of ['from=yesterday', 'to=2024-02-30', 'from=-5', 'to=1e12', 'from=2024-01-01T25:00:00Z']) {
      expectProblem(await api.get(`/api/v1/messages?peerId=${bob.id}&${query}`, alice.token), 400, 'VALIDATION_FAILED');
    }
  });

  it('accepts a far-future bound as "until the end"', async () => {
    const expected = idsBetween(0, Number.MAX_SAFE_INTEGER).reverse();
    // Beyond 2^48 ms a ULID cannot hold the time; 2^50 would wrap to zero if it were not clamped.
    for (const to of ['9999-12-31T23:59:59Z', String(2 ** 48), String(2 ** 50), '8640000000000000']) {
      const page = await get(alice, `from=${edge}&to=${to}&limit=100`);
      expect(
        page.messages.map((m) => m.id),
        to,
      ).toEqual(expected);
    }
  });
});
