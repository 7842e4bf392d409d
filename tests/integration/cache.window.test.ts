import { afterAll, describe, expect, it } from 'vitest';
import { createCacheCounters } from '../../src/cache/counters.js';
import { createKeys } from '../../src/cache/keys.js';
import { createCacheLayer } from '../../src/cache/layer.js';
import { newId, ulidTime } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { testRedis } from '../support/redis.js';
import { dropPrefix, readWindow, sleep, uniquePrefix } from './cache.support.js';

/**
 * The parts of the cache's guarantee (src/cache/README.md) on the cache module itself, against the
 * real shared Redis (a prefix of its own): the `load` functions stand in for Cassandra reads, so a
 * test can hold a read open while a send happens, or make it slower than T.
 */
describe('recent-messages window', () => {
  const prefix = uniquePrefix();
  const redis = testRedis({ maxRetriesPerRequest: 2 });
  const keys = createKeys(prefix);

  /** One "node": its own cache layer (own coalescing) over the shared Redis. */
  const node = (stalenessMs = 5000) => {
    const counters = createCacheCounters();
    const layer = createCacheLayer({
      redis,
      keys,
      counters,
      config: { enabled: true, recentMessages: 5, stalenessMs },
    });
    return { recent: layer.recent, counters };
  };

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const conversation = () => `dm_${newId()}_${newId()}`;
  const message = (conversationId: string, content: string): StoredMessage => {
    const id = newId();
    return {
      id,
      conversationId,
      senderId: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      receiverId: '01BX5ZZKBKACTAV9WEVGEMMVRY',
      groupId: null,
      content,
      createdAt: ulidTime(id),
      clientTimestamp: null,
    };
  };
  const ids = (messages: StoredMessage[]) => messages.map((m) => m.id);
  /** A load that answers `rows` (newest first) once released. */
  const heldLoad = (rows: () => StoredMessage[]) => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const load = async () => {
      await released;
      return rows();
    };
    return { load, release };
  };
  const failingLoad = async (): Promise<StoredMessage[]> => {
    throw new Error('this read must have been served from the cache');
  };

  it('holds one entry per message: a fill that read another state of a cached message deletes the window', async () => {
    const a = node();
    const b = node();
    const c = conversation();
    const m1 = message(c, 'before the edit');
    expect(ids(await a.recent.newest(c, 3, async () => [m1]))).toEqual([m1.id]);
    // Node b read Cassandra before the edit landed; its fill arrives after node a refilled with the edit.
    const held = heldLoad(() => [m1]);
    await a.recent.forget(c);
    const stale = b.recent.newest(c, 3, held.load);
    await sleep(20);
    const edited = { ...m1, content: 'after the edit', editedAt: Date.now() };
    expect((await a.recent.newest(c, 3, async () => [edited]))[0]?.content).toBe('after the edit');
    held.release();
    await stale;
    // Neither state is served: the window is gone and the next read goes to Cassandra.
    expect(await readWindow(redis, prefix, c)).toMatchObject({ ids: [], filled: false });
    expect((await a.recent.newest(c, 3, async () => [edited]))[0]?.content).toBe('after the edit');
  });

  it('keeps an append made while a fill reads Cassandra, so the fill that missed it hides nothing', async () => {
    const a = node();
    const c = conversation();
    const m1 = message(c, 'one');
    const m2 = message(c, 'two');
    // The read sees m1 only; m2 is written and appended while the read is in flight.
    const held = heldLoad(() => [m1]);
    const page = a.recent.newest(c, 3, held.load);
    await sleep(20);
    await a.recent.append(m2);
    held.release();
    expect(ids(await page)).toEqual([m1.id]);
    expect(ids(await a.recent.newest(c, 3, failingLoad))).toEqual([m2.id, m1.id]);
  });

  it('unions a fill that read before a send and lands after a newer fill: the newer message stays, the expiry does not grow', async () => {
    const stale = node();
    const fresh = node();
    const c = conversation();
    const m1 = message(c, 'one');
    const m2 = message(c, 'two');
    const held = heldLoad(() => [m1]);
    const late = stale.recent.newest(c, 3, held.load); // read before m2 was sent
    await sleep(20);
    expect(ids(await fresh.recent.newest(c, 3, async () => [m2, m1]))).toEqual([m2.id, m1.id]);
    const ttlBefore = (await readWindow(redis, prefix, c)).ttlMs;
    held.release();
    await late;
    const window = await readWindow(redis, prefix, c);
    expect(window.ids).toEqual([m2.id, m1.id]);
    expect(window.complete).toBe(true);
    expect(window.ttlMs).toBeLessThanOrEqual(ttlBefore);
    expect(ids(await fresh.recent.newest(c, 3, failingLoad))).toEqual([m2.id, m1.id]);
  });

  it('never extends a window’s expiry by reading or appending: it expires T after its fill’s read started', async () => {
    const a = node(1200);
    const c = conversation();
    const m1 = message(c, 'one');
    await a.recent.newest(c, 3, async () => [m1]);
    const startedAt = Date.now();
    const first = (await readWindow(redis, prefix, c)).ttlMs;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(1200);
    await sleep(300);
    await a.recent.newest(c, 2, failingLoad);
    await a.recent.append(message(c, 'two'));
    expect((await readWindow(redis, prefix, c)).ttlMs).toBeLessThanOrEqual(first - 250);
    await sleep(Math.max(0, 1300 - (Date.now() - startedAt)));
    expect(await redis.exists(keys.recentMessages(c))).toBe(0);
  });

  it('does not create a window when appending to one that does not exist', async () => {
    const a = node();
    const c = conversation();
    await a.recent.append(message(c, 'nobody filled this window'));
    expect(await redis.exists(keys.recentMessages(c))).toBe(0);
  });

  it('stores nothing from a fill whose Cassandra read took longer than T, and the next read loads again', async () => {
    const a = node(300);
    const c = conversation();
    const m1 = message(c, 'one');
    const m2 = message(c, 'two');
    const slow = async () => {
      await sleep(500);
      return [m1];
    };
    expect(ids(await a.recent.newest(c, 3, slow))).toEqual([m1.id]);
    expect(a.counters.get('recent', 'fill')).toBe(0);
    expect(await redis.exists(keys.recentMessages(c))).toBe(0);
    let loads = 0;
    const page = await a.recent.newest(c, 3, async () => {
      loads++;
      return [m2, m1];
    });
    expect(loads).toBe(1);
    expect(ids(page)).toEqual([m2.id, m1.id]);
  });

  it('keeps the newest N + 1 entries and answers a short window only when it holds the whole conversation', async () => {
    const a = node();
    const c = conversation();
    const all = Array.from({ length: 8 }, (_, i) => message(c, `m${i}`)).reverse(); // newest first
    expect(ids(await a.recent.newest(c, 6, async (limit) => all.slice(0, limit)))).toEqual(ids(all.slice(0, 6)));
    const window = await readWindow(redis, prefix, c);
    expect(window.ids).toEqual(ids(all.slice(0, 6)));
    expect(window.complete).toBe(false);
    const d = conversation();
    const few = [message(d, 'only')];
    await a.recent.newest(d, 6, async () => few);
    expect((await readWindow(redis, prefix, d)).complete).toBe(true);
    expect(ids(await a.recent.newest(d, 6, failingLoad))).toEqual(ids(few));
  });
});
