import { describe, expect, it } from 'vitest';
import type { Receipt } from '../../src/client/index.js';
import { applyReaction, directConversationId, mergeMessages, ticksOf } from '../../src/console/timeline.js';
import { messageJson, USER_A, USER_B } from '../support/fixtures.js';

/** The console's view-model rules: what a person sees after frames arrive in any order. */
const ADA = USER_A;
const BOB = USER_B;
const CONV = directConversationId(ADA, BOB);

const message = messageJson; // from Ada to Bob, in CONV

const receipt = (userId: string, deliveredUpTo: string | null, readUpTo: string | null): Receipt => ({
  conversationId: CONV,
  userId,
  deliveredUpTo,
  readUpTo,
});

describe('the console timeline', () => {
  it('merges by id, oldest first, whatever order pages and frames come in', () => {
    const merged = mergeMessages([message('01B'), message('01D')], [message('01C'), message('01A'), message('01B')]);
    expect(merged.map((m) => m.id)).toEqual(['01A', '01B', '01C', '01D']);
  });

  it('keeps a deletion when a late update of the same message arrives, and keeps my reactions', () => {
    const deleted = message('01A', { deletedAt: '2026-12-01T12:01:00.000Z', content: null });
    expect(mergeMessages([deleted], [message('01A', { content: 'back?' })])[0]?.content).toBeNull();
    const mine = message('01B', { reactions: [{ emoji: '👍', count: 1, me: true }] });
    const frame = message('01B', { content: 'edited', reactions: [{ emoji: '👍', count: 2, me: false }] });
    expect(mergeMessages([mine], [frame])[0]?.reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);
  });

  it('applies reaction frames: count from the frame, me only when I gave or took it', () => {
    const m = message('01A', { reactions: [{ emoji: '👍', count: 1, me: true }] });
    const change = { messageId: '01A', emoji: '👍', count: 2, userId: BOB, added: true };
    expect(applyReaction(m, change, ADA).reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);
    const takenBack = applyReaction(m, { ...change, count: 0, userId: ADA, added: false }, ADA);
    expect(takenBack.reactions).toEqual([]);
    expect(applyReaction(m, { ...change, emoji: '🎉', count: 1 }, ADA).reactions.map((r) => r.emoji)).toEqual([
      '👍',
      '🎉',
    ]);
  });

  it('ticks: delivered and read by watermarks of every other participant, never below the message status', () => {
    const m = message('01M');
    const none = new Map<string, Receipt>();
    expect(ticksOf(m, none, [BOB])).toBe('sent');
    expect(ticksOf(m, new Map([[BOB, receipt(BOB, '01M', null)]]), [BOB])).toBe('delivered');
    expect(ticksOf(m, new Map([[BOB, receipt(BOB, '01Z', '01M')]]), [BOB])).toBe('read');
    expect(ticksOf(m, new Map([[BOB, receipt(BOB, '01L', '01L')]]), [BOB])).toBe('sent');
    expect(ticksOf(message('01M', { status: 'delivered' }), none, [BOB])).toBe('delivered');
    // A group: read only when every other member read it.
    const CAT = '01JD3W7B1C2D3E4F5G6H7J8K9N';
    const group = new Map([
      [BOB, receipt(BOB, '01M', '01M')],
      [CAT, receipt(CAT, '01M', null)],
    ]);
    expect(ticksOf(m, group, [ADA, BOB, CAT])).toBe('delivered');
  });
});
