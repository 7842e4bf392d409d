import { ulidTime } from './ids.js';

/**
 * The fixed time window that partitions the thread tables keyed by a message id of the main
 * history (thread_summaries, thread_reply_roots): a conversation's rows of one window share a
 * partition, so a page's summaries are one read per window it spans (usually one).
 *
 * Fixed, not MESSAGE_BUCKET_MS: these rows are looked up by computing the window from the id,
 * with no index of windows. Were it configurable, changing it would silently hide every summary
 * written before (every root would show `thread: null` until its next reply).
 */
export const THREAD_WINDOW_MS = 10 * 24 * 3600 * 1000;

/** The window start (epoch ms) holding a message id's rows. */
export const threadWindowOf = (messageId: string): number => {
  const time = ulidTime(messageId);
  return time - (time % THREAD_WINDOW_MS);
};

/**
 * The write timestamp of a summary's reply count: the count itself, so the highest count ever
 * written wins whatever order concurrent writers land in. Every reply recounts its thread after
 * its own insert, so the recount of the reply that landed last sees every reply: the highest
 * count written is the true one (two replies at once give 2, never 1).
 */
export const replyCountWriteTimestamp = (replyCount: number): bigint => BigInt(replyCount);
