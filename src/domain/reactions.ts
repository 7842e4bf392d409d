import type { StoredReaction } from './types.js';

/**
 * Reactions' rules, no I/O: what an emoji is, how a message's reactions are summed up for a
 * viewer, and how many a message may carry.
 */

/** The most UTF-8 bytes one emoji may take (a family or a flag with modifiers is ~25). */
export const MAX_EMOJI_BYTES = 32;
/**
 * Distinct emoji one message may carry, and reactions in all. Every page of history carries each
 * message's whole reaction map (it is read with the row, not per message), so an unbounded map
 * makes every page that shows the message unbounded: one message with 100,000 reactions made a
 * 50-message page megabytes. Past either bound a new reaction is refused with 409 (a reaction the
 * user already gave is still idempotent). Checked on the row read before the write, so reactions
 * racing at the bound may pass it by the number racing: a soft bound, which is all a page needs.
 */
export const MAX_DISTINCT_EMOJI = 20;
export const MAX_REACTIONS_PER_MESSAGE = 500;

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
/**
 * Controls, separators (spaces, line breaks) and lone surrogates. Unassigned code points are let
 * through: an emoji of a Unicode release newer than this Node's tables is unassigned here.
 */
const NOT_IN_AN_EMOJI = /[\p{Cc}\p{Z}\p{Cs}]/u;

/**
 * Why an emoji path segment is refused, or undefined when it is one emoji: exactly one grapheme
 * cluster (what a person sees as one symbol: 👍🏽 and 👨‍👩‍👧 are one, "ab" is two), at most
 * MAX_EMOJI_BYTES of UTF-8, with no control or space character. It is not checked
 * against an emoji list: a list ages with every Unicode release, and a letter as a reaction
 * harms nobody.
 */
export function emojiProblem(emoji: string): string | undefined {
  if (emoji.length === 0) return 'must not be empty';
  if (Buffer.byteLength(emoji, 'utf8') > MAX_EMOJI_BYTES) return `must be at most ${MAX_EMOJI_BYTES} bytes of UTF-8`;
  if (NOT_IN_AN_EMOJI.test(emoji)) return 'must not contain control characters or spaces';
  let clusters = 0;
  for (const _ of segmenter.segment(emoji)) clusters++;
  if (clusters !== 1) return 'must be exactly one emoji (one grapheme cluster)';
  return undefined;
}

/**
 * A message's reactions as a viewer sees them: one entry per emoji, ordered by each emoji's
 * earliest standing reaction (so an emoji keeps its place while anyone still gives it).
 */
export interface ReactionSummary {
  emoji: string;
  count: number;
  me: boolean;
}

export function summarizeReactions(reactions: readonly StoredReaction[], viewerId: string | null): ReactionSummary[] {
  const byEmoji = new Map<string, { first: string; count: number; me: boolean }>();
  for (const reaction of reactions) {
    const entry = byEmoji.get(reaction.emoji) ?? { first: reaction.at, count: 0, me: false };
    entry.count++;
    if (reaction.at < entry.first) entry.first = reaction.at;
    if (reaction.userId === viewerId) entry.me = true;
    byEmoji.set(reaction.emoji, entry);
  }
  return [...byEmoji]
    .sort(([a, x], [b, y]) => (x.first === y.first ? (a < b ? -1 : 1) : x.first < y.first ? -1 : 1))
    .map(([emoji, entry]) => ({ emoji, count: entry.count, me: entry.me }));
}

/** Why one more reaction (`emoji` by a user who has not given it) is refused, or undefined. */
export function reactionLimitProblem(reactions: readonly StoredReaction[], emoji: string): string | undefined {
  if (reactions.length >= MAX_REACTIONS_PER_MESSAGE) {
    return `This message already has the most reactions a message may have (${MAX_REACTIONS_PER_MESSAGE})`;
  }
  const distinct = new Set(reactions.map((reaction) => reaction.emoji));
  if (!distinct.has(emoji) && distinct.size >= MAX_DISTINCT_EMOJI) {
    return `This message already has the most different emoji a message may have (${MAX_DISTINCT_EMOJI})`;
  }
  return undefined;
}

/** The map key of one reaction cell: `<emoji> <userId>` (user ids are 26-character ULIDs). */
export const reactionKey = (emoji: string, userId: string) => `${emoji} ${userId}`;

/** The reaction a map cell holds, or undefined for a key this code did not write. */
export function parseReactionKey(key: string, at: string): StoredReaction | undefined {
  if (key.length < 28 || key.charAt(key.length - 27) !== ' ') return undefined;
  return { emoji: key.slice(0, -27), userId: key.slice(-26), at };
}
