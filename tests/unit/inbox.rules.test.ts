import { describe, expect, it } from 'vitest';
import { idAt, minUlidAt, ulidTime } from '../../src/domain/ids.js';
import {
  changeBounds,
  changedSince,
  type InboxEntry,
  inboxPage,
  leftSince,
  unreadCount,
} from '../../src/domain/inbox.js';
import {
  decodePageCursor,
  decodeSyncCursor,
  encodePageCursor,
  encodeSyncCursor,
} from '../../src/domain/inbox-cursors.js';

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => idAt(T0 + seconds * 1000);

const direct = (conversationId: string, lastMessageId?: string, ownChange?: string): InboxEntry => ({
  conversationId,
  kind: 'direct',
  peerId: at(0),
  groupId: null,
  lastMessageId,
  ownChange,
});
const group = (groupId: string, lastMessageId?: string, ownChange?: string): InboxEntry => ({
  conversationId: groupId,
  kind: 'group',
  peerId: null,
  groupId,
  lastMessageId,
  ownChange,
});

describe('inbox order and pages', () => {
  it('puts the newest activity first, a message-less group at its creation, and a conversation without activity last', () => {
    const old = direct('dm_a', at(10));
    const newest = group(at(1), at(30));
    const createdLater = group(at(20));
    const none = direct('dm_b');
    const { page, next } = inboxPage([none, old, createdLater, newest], undefined, 10);
    expect(page).toEqual([newest, createdLater, old, none]);
    expect(next).toBeUndefined();
  });

  it("does not move a conversation for the caller's own change (reading it)", () => {
    const read = direct('dm_a', at(10), at(50));
    const other = direct('dm_b', at(20));
    expect(inboxPage([read, other], undefined, 10).page).toEqual([other, read]);
  });

  it('cuts pages by position so that consecutive pages neither repeat nor skip', () => {
    const entries = Array.from({ length: 7 }, (_, i) => direct(`dm_${i}`, i % 2 === 0 ? at(i) : undefined));
    const seen: string[] = [];
    let after: ReturnType<typeof inboxPage>['next'];
    for (let pages = 0; pages < 5; pages++) {
      const { page, next } = inboxPage(entries, after, 3);
      seen.push(...page.map((entry) => entry.conversationId));
      if (!next) break;
      after = next;
    }
    expect(seen).toEqual(inboxPage(entries, undefined, 100).page.map((entry) => entry.conversationId));
    expect(new Set(seen).size).toBe(7);
  });

  it('continues after a conversation that vanished since the previous page', () => {
    const a = direct('dm_a', at(30));
    const b = direct('dm_b', at(20));
    const c = direct('dm_c', at(10));
    const first = inboxPage([a, b, c], undefined, 2);
    expect(first.page).toEqual([a, b]);
    // b is gone (a group left) by the time the next page is asked: c still follows.
    expect(inboxPage([a, c], first.next, 2).page).toEqual([c]);
  });
});

describe('changedSince', () => {
  const since = at(100);
  const bounds = changeBounds(since, 30_000);

  it('counts the caller’s own changes from the margin before the position, messages from the position itself', () => {
    expect(bounds.messages).toBe(since);
    expect(bounds.own).toBe(minUlidAt(ulidTime(since) - 30_000));
    expect(changedSince(direct('dm_a', at(99)), bounds)).toBe(false);
    expect(changedSince(direct('dm_a', at(100.5)), bounds)).toBe(true);
    // A watermark move minted 20 s before the position may have landed after it: reported.
    expect(changedSince(direct('dm_a', at(10), at(80)), bounds)).toBe(true);
    expect(changedSince(direct('dm_a', at(10), at(60)), bounds)).toBe(false);
  });

  it('reports a change to an old message (edit, delete, reaction) from the position itself, without reordering', () => {
    const changed = { ...direct('dm_c', at(10)), lastChangeId: at(100.5) };
    expect(changedSince(changed, bounds)).toBe(true);
    expect(changedSince({ ...changed, lastChangeId: at(99) }, bounds)).toBe(false);
    // The order stays by newest message: the changed conversation sorts below a newer message.
    const newer = direct('dm_d', at(50));
    expect(inboxPage([changed, newer], undefined, 10).page.map((entry) => entry.conversationId)).toEqual([
      'dm_d',
      'dm_c',
    ]);
  });

  it('reports a group created within the margin (its first members joined then)', () => {
    expect(changedSince(group(at(90)), bounds)).toBe(true);
    expect(changedSince(group(at(10)), bounds)).toBe(false);
  });

  it('reports as left only groups changed within the bounds that the caller is no longer in', () => {
    const [stillIn, leftNow, leftLongAgo] = [at(1), at(2), at(3)];
    const changes = new Map([
      [stillIn, at(95)],
      [leftNow, at(95)],
      [leftLongAgo, at(5)],
      ['dm_x', at(95)],
    ]);
    const isGroup = (id: string) => !id.startsWith('dm_');
    expect(leftSince(changes, new Set([stillIn]), bounds, isGroup)).toEqual([leftNow]);
  });

  it('never makes the own-change bound negative', () => {
    expect(changeBounds(minUlidAt(1000), 60_000).own).toBe(minUlidAt(0));
  });
});

describe('unread counts', () => {
  it('are exact up to 99, then 99 and capped', () => {
    expect(unreadCount(0, true)).toEqual({ unreadCount: 0, unreadCountCapped: false });
    expect(unreadCount(99, true)).toEqual({ unreadCount: 99, unreadCountCapped: false });
    expect(unreadCount(100, true)).toEqual({ unreadCount: 99, unreadCountCapped: true });
    expect(unreadCount(100, false)).toEqual({ unreadCount: 99, unreadCountCapped: true });
  });

  it('say "at least" when the scan stopped at its bound before the watermark', () => {
    expect(unreadCount(12, false)).toEqual({ unreadCount: 12, unreadCountCapped: true });
  });
});

describe('inbox cursors', () => {
  const sync = at(100);

  it('round-trip a syncCursor and a nextCursor', () => {
    expect(decodeSyncCursor(encodeSyncCursor(sync))).toBe(sync);
    const page = { sync, changedSince: at(50), after: { activity: at(40), conversationId: `dm_${at(1)}_${at(2)}` } };
    expect(decodePageCursor(encodePageCursor(page))).toEqual(page);
    const plain = { sync, changedSince: undefined, after: { activity: '', conversationId: at(3) } };
    expect(decodePageCursor(encodePageCursor(plain))).toEqual(plain);
  });

  it('refuse what they did not issue: the other kind, garbage, tampered or non-canonical text', () => {
    const syncCursor = encodeSyncCursor(sync);
    const pageCursor = encodePageCursor({
      sync,
      changedSince: undefined,
      after: { activity: '', conversationId: at(3) },
    });
    expect(decodePageCursor(syncCursor)).toBeUndefined();
    expect(decodeSyncCursor(pageCursor)).toBeUndefined();
    for (const bad of ['', 'x', '!!!!', `${syncCursor}x`, `${syncCursor}==`, 'a'.repeat(600)]) {
      expect(decodeSyncCursor(bad), bad).toBeUndefined();
      expect(decodePageCursor(bad), bad).toBeUndefined();
    }
    expect(decodeSyncCursor(Buffer.from('s1.not-a-ulid').toString('base64url'))).toBeUndefined();
    expect(decodeSyncCursor(Buffer.from(`s2.${sync}`).toString('base64url'))).toBeUndefined();
    expect(decodePageCursor(Buffer.from(`p1.${sync}...dm_bad`).toString('base64url'))).toBeUndefined();
    // The last character of a 29-byte payload carries two unused bits: other letters there spell the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bytes = Buffer.from(syncCursor, 'base64url');
    const siblings = [...alphabet]
      .map((letter) => `${syncCursor.slice(0, -1)}${letter}`)
      .filter((spelling) => spelling !== syncCursor && Buffer.from(spelling, 'base64url').equals(bytes));
    expect(siblings).toHaveLength(3);
    for (const sibling of siblings) expect(decodeSyncCursor(sibling)).toBeUndefined();
  });
});
