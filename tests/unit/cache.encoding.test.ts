import { describe, expect, it } from 'vitest';
import { parseTicket, storedText } from '../../src/cache/coherence.js';
import { createCacheCounters } from '../../src/cache/counters.js';
import { createKeys } from '../../src/cache/keys.js';
import { decodeReceipts } from '../../src/cache/receipts-cache.js';
import { decodeEntry, encodeEntry } from '../../src/cache/recent-messages.js';
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
    const flat = ['u:B', 'X|', '~e', 'epoch', 'u:A', 'Y|W'];
    expect(decodeReceipts('c', flat)).toEqual([
      { conversationId: 'c', userId: 'A', deliveredUpTo: 'Y', readUpTo: 'W' },
      { conversationId: 'c', userId: 'B', deliveredUpTo: 'X', readUpTo: null },
    ]);
  });
});

describe('cache tickets', () => {
  it('parses the three parts of a ticket: epoch, key nonce, version', () => {
    expect(parseTicket('abc|Xy-_12|3')).toEqual({ epoch: 'abc', nonce: 'Xy-_12', version: '3' });
  });

  it('refuses a ticket taken without an epoch or without a nonce (such a fill could not be checked)', () => {
    expect(parseTicket('|n|0')).toBeUndefined();
    expect(parseTicket('abc||0')).toBeUndefined();
  });

  it('refuses anything else', () => {
    expect(parseTicket('abc|12')).toBeUndefined();
    expect(parseTicket('a|b|c|d')).toBeUndefined();
    expect(parseTicket('')).toBeUndefined();
  });
});

describe('cache counters', () => {
  it('counts per cache and event and reports zeros too', () => {
    const counters = createCacheCounters();
    counters.count('recent', 'hit');
    counters.count('recent', 'hit');
    counters.count('users', 'staleFill');
    counters.coherence('epochBump');
    const snapshot = counters.snapshot();
    expect(snapshot.recent.hit).toBe(2);
    expect(snapshot.recent.miss).toBe(0);
    expect(snapshot.users.staleFill).toBe(1);
    expect(snapshot.coherence.epochBump).toBe(1);
    expect(counters.get('recent', 'hit')).toBe(2);
  });

  it('feeds the metrics layer the four core events of every cache', () => {
    const counters = createCacheCounters();
    counters.count('members', 'error', 3);
    counters.count('members', 'skip');
    const entries = counters.entries();
    expect(entries).toHaveLength(16);
    expect(entries).toContainEqual({ cache: 'members', event: 'error', count: 3 });
    expect(entries.some((entry) => (entry.event as string) === 'skip')).toBe(false);
  });
});

describe('cache keys', () => {
  it('spells every cache key under the prefix and version', () => {
    const keys = createKeys('sb');
    expect(keys.recentMessages('c1')).toBe('sb:v1:recent:c1');
    expect(keys.cacheEpoch()).toBe('sb:v1:cache:epoch');
    expect(keys.cacheLeases()).toBe('sb:v1:cache:leases');
    expect(keys.cacheUncertain()).toBe('sb:v1:cache:uncertain');
  });
});
