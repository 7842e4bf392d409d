import { describe, expect, it } from 'vitest';
import { createCoalescer } from '../../src/cache/coalesce.js';
import { bestEffort, createCacheCounters } from '../../src/cache/counters.js';
import { createKeys } from '../../src/cache/keys.js';
import { decodeReceipts } from '../../src/cache/receipts-cache.js';
import { decodeEntry, encodeEntry, storedText } from '../../src/cache/recent-messages.js';
import { newId, ulidTime } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';

const message = (overrides: Partial<StoredMessage> = {}): StoredMessage => {
  const id = overrides.id ?? newId();
  return {
    id,
    conversationId: 'dm_01ARZ3NDEKTSV4RRFFQ69G5FAV_01BX5ZZKBKACTAV9WEVGEMMVRY',
    senderId: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    receiverId: '01BX5ZZKBKACTAV9WEVGEMMVRY',
    groupId: null,
    content: 'hello',
    createdAt: ulidTime(id),
    clientTimestamp: 1_700_000_000_123,
    ...overrides,
  };
};

describe('recent-messages window entries', () => {
  it('decodes an encoded message to the same message', () => {
    const original = message({ content: 'quotes " and \\ and | and ~ and ünïcödé 🎉' });
    expect(decodeEntry(original.conversationId, encodeEntry(original))).toEqual(original);
  });

  it('round-trips a group message without client timestamp', () => {
    const original = message({ receiverId: null, groupId: '01BX5ZZKBKACTAV9WEVGEMMVRY', clientTimestamp: null });
    expect(decodeEntry(original.conversationId, encodeEntry(original))).toEqual(original);
  });

  it('round-trips a reply target, and encodes a message without one as before replies existed', () => {
    const reply = message({ replyToId: '01BX5ZZKBKACTAV9WEVGEMMVRY' });
    expect(decodeEntry(reply.conversationId, encodeEntry(reply))).toEqual(reply);
    const plain = message();
    expect(encodeEntry({ ...plain, replyToId: null })).toBe(encodeEntry(plain));
    expect(encodeEntry(plain).endsWith(`${plain.clientTimestamp}]`)).toBe(true);
  });

  it('starts every entry with the message id, so entries sort in id order', () => {
    const ids = [newId(), newId(), newId()];
    const entries = ids.map((id) => encodeEntry(message({ id, content: id === ids[0] ? 'zzz' : 'aaa' })));
    expect([...entries].sort()).toEqual(entries);
    for (const [i, entry] of entries.entries()) expect(entry.startsWith(ids[i] as string)).toBe(true);
  });

  it('stores a lone surrogate as U+FFFD, as Cassandra returns it', () => {
    const original = message({ content: 'broken \ud800 text' });
    expect(decodeEntry(original.conversationId, encodeEntry(original)).content).toBe('broken \ufffd text');
    expect(storedText('fine 🎉')).toBe('fine 🎉');
  });
});

describe('receipts cache entries', () => {
  it('decodes user fields to receipts in user id order and skips meta fields', () => {
    const flat = ['u:B', 'X|', '~f', '1', 'u:A', 'Y|W', '~p', '1'];
    expect(decodeReceipts('c', flat)).toEqual([
      { conversationId: 'c', userId: 'A', deliveredUpTo: 'Y', readUpTo: 'W' },
      { conversationId: 'c', userId: 'B', deliveredUpTo: 'X', readUpTo: null },
    ]);
  });
});

describe('cache counters', () => {
  it('counts per cache and event and feeds the metrics layer every total, zeros too', () => {
    const counters = createCacheCounters();
    counters.count('recent', 'hit');
    counters.count('recent', 'hit');
    counters.count('members', 'error', 3);
    expect(counters.get('recent', 'hit')).toBe(2);
    expect(counters.get('recent', 'miss')).toBe(0);
    const entries = counters.entries();
    // 4 caches (recent, receipts, members, threads) × 4 events.
    expect(entries).toHaveLength(16);
    expect(entries).toContainEqual({ cache: 'members', event: 'error', count: 3 });
  });

  it('turns a failed Redis step into undefined and counts it as an error, never rejecting', async () => {
    const counters = createCacheCounters();
    const result = await bestEffort(counters, 'recent', () => Promise.reject(new Error('Command timed out')));
    expect(result).toBeUndefined();
    expect(counters.get('recent', 'error')).toBe(1);
    expect(await bestEffort(counters, 'recent', async () => 7)).toBe(7);
  });
});

describe('request coalescing', () => {
  it('gives concurrent callers of one key the same load, and a later caller a new one', async () => {
    const coalescer = createCoalescer<number>(10_000);
    let loads = 0;
    let release = () => {};
    const slow = () =>
      new Promise<number>((resolve) => {
        loads++;
        release = () => resolve(loads);
      });
    const first = coalescer.run('k', slow);
    const second = coalescer.run('k', slow);
    const other = coalescer.run('other', async () => -1);
    release();
    expect(await Promise.all([first, second, other])).toEqual([1, 1, -1]);
    expect(await coalescer.run('k', async () => 42)).toBe(42);
  });

  it('does not let a caller join a load older than the bound (its answer could be staler than T)', async () => {
    const coalescer = createCoalescer<string>(20);
    let release = (_value: string) => {};
    const stuck = coalescer.run('k', () => new Promise<string>((resolve) => (release = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await coalescer.run('k', async () => 'fresh')).toBe('fresh');
    release('old');
    expect(await stuck).toBe('old');
  });
});

describe('cache keys', () => {
  it('spells every cache key under the prefix and version, hash-tagged on its conversation or group', () => {
    const keys = createKeys('sb');
    expect(keys.recentMessages('c1')).toBe('sb:v1:recent:{c1}');
    expect(keys.receipts('c1')).toBe('sb:v1:receipts:{c1}');
    expect(keys.groupMembers('g1')).toBe('sb:v1:members:{g1}');
  });
});
