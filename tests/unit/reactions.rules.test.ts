import { describe, expect, it } from 'vitest';
import {
  emojiProblem,
  MAX_DISTINCT_EMOJI,
  MAX_REACTIONS_PER_MESSAGE,
  parseReactionKey,
  reactionKey,
  reactionLimitProblem,
  summarizeReactions,
} from '../../src/domain/reactions.js';
import type { StoredReaction } from '../../src/domain/types.js';

const A = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
const B = '01JD3W7B1C2D3E4F5G6H7J8K9M';

describe('emoji validation', () => {
  it('accepts one grapheme cluster, however many code points it takes', () => {
    for (const emoji of ['👍', '👍🏽', '👨‍👩‍👧', '🏳️‍🌈', '🇯🇵', '1️⃣', '❤️', '★', 'é', 'e\u0301']) {
      expect(emojiProblem(emoji), emoji).toBeUndefined();
    }
  });

  it('refuses two clusters, nothing, spaces and control characters', () => {
    expect(emojiProblem('👍👍')).toMatch(/one emoji/);
    expect(emojiProblem('ab')).toMatch(/one emoji/);
    expect(emojiProblem('')).toMatch(/empty/);
    for (const emoji of [' ', '\u00a0', '\n', '\u0000', '\u0007', '👍 ']) {
      expect(emojiProblem(emoji), JSON.stringify(emoji)).toMatch(/control|spaces/);
    }
    expect(emojiProblem('\ud83d')).toBeDefined();
  });

  it('refuses one cluster of more than 32 bytes of UTF-8, and takes one of exactly 32', () => {
    // 👍 is 4 bytes, each U+0301 two: 4 + 14·2 = 32, 4 + 15·2 = 34.
    expect(emojiProblem(`👍${'\u0301'.repeat(14)}`)).toBeUndefined();
    expect(emojiProblem(`👍${'\u0301'.repeat(15)}`)).toMatch(/32 bytes/);
  });
});

describe('reaction summaries', () => {
  const reaction = (emoji: string, userId: string, at: string): StoredReaction => ({ emoji, userId, at });

  it('counts per emoji, says whether the viewer gave it, in the order of each emoji’s earliest reaction', () => {
    const reactions = [
      reaction('🎉', B, '01JD3W7B1C2D3E4F5G6H7J8K9Q'),
      reaction('👍', A, '01JD3W7B1C2D3E4F5G6H7J8K9N'),
      reaction('👍', B, '01JD3W7B1C2D3E4F5G6H7J8K9P'),
    ];
    expect(summarizeReactions(reactions, A)).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: false },
    ]);
    expect(summarizeReactions(reactions, null).every((entry) => !entry.me)).toBe(true);
    expect(summarizeReactions([], A)).toEqual([]);
  });

  it('bounds distinct emoji and reactions per message, but never refuses an emoji already there', () => {
    const distinct = Array.from({ length: MAX_DISTINCT_EMOJI }, (_, i) =>
      reaction(String.fromCodePoint(0x1f600 + i), A, `01JD3W7B1C2D3E4F5G6H7J8K${String(i).padStart(2, '0')}`),
    );
    expect(reactionLimitProblem(distinct, '🦄')).toMatch(/different emoji/);
    expect(reactionLimitProblem(distinct, '😀')).toBeUndefined();
    const many = Array.from({ length: MAX_REACTIONS_PER_MESSAGE }, () => reaction('😀', A, A));
    expect(reactionLimitProblem(many, '😀')).toMatch(/most reactions/);
  });

  it('stores a reaction as `<emoji> <userId>` and reads back exactly that, refusing keys it did not write', () => {
    const key = reactionKey('👨‍👩‍👧', A);
    expect(parseReactionKey(key, B)).toEqual({ emoji: '👨‍👩‍👧', userId: A, at: B });
    // An emoji that itself ends in a space-like character still splits at the fixed-length id.
    expect(parseReactionKey(reactionKey('x', A), B)?.emoji).toBe('x');
    expect(parseReactionKey('short', B)).toBeUndefined();
    expect(parseReactionKey(`👍${A}`, B)).toBeUndefined();
  });
});
