import { AppError } from '../domain/errors.js';
import { writeTimestamp } from '../domain/write-timestamp.js';
import type { Block, BlockRepository } from '../store/blocks.js';
import type { UserRepository } from '../store/users.js';
import type { BlockChecks, BlockListener } from './ports.js';

/** (blocker, blocked) answers one process remembers; the oldest go first. */
const MAX_CACHED_CHECKS = 100_000;

/**
 * Blocking: a user blocks another, who then cannot send them one-to-one messages, add them to a
 * group, or see their presence; groups they share keep working (a block is personal: it must not
 * let one member silence a group for everyone).
 *
 * The send path asks `hasBlocked(receiver, sender)` on every one-to-one send. Answers are cached
 * in this process for `checkCacheMs` (BLOCK_CHECK_CACHE_MS, 2 s by default; 0 turns the cache
 * off), so a busy conversation costs one single-row read per pair per interval, not per send. The
 * price is the bound: a block takes effect at once on the node that made it (its cache is updated
 * with the write) and within `checkCacheMs` on every other node, which is the window in which a
 * send there can still pass.
 */
export function createBlockService(deps: {
  blocks: BlockRepository;
  users: Pick<UserRepository, 'findById'>;
  maxPerUser: number;
  checkCacheMs: number;
  listener?: BlockListener | undefined;
  now?: () => number;
}) {
  const { blocks } = deps;
  const now = deps.now ?? Date.now;
  /** `<blocker> <blocked>` → the answer and until when it may be trusted. */
  const cache = new Map<string, { blocked: boolean; until: number }>();

  function remember(blockerId: string, blockedId: string, blocked: boolean) {
    if (deps.checkCacheMs <= 0) return;
    const key = `${blockerId} ${blockedId}`;
    cache.delete(key);
    cache.set(key, { blocked, until: now() + deps.checkCacheMs });
    if (cache.size > MAX_CACHED_CHECKS) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
  }

  /** 400 for oneself, 404 for a user who does not exist. */
  async function requireOtherUser(callerId: string, userId: string) {
    if (userId === callerId) {
      throw new AppError('VALIDATION_FAILED', 'You cannot block yourself', {
        issues: [{ path: 'params.userId', message: 'must be another user than the caller' }],
      });
    }
    if (!(await deps.users.findById(userId))) throw new AppError('NOT_FOUND', `User ${userId} does not exist`);
  }

  const checks: BlockChecks = {
    async hasBlocked(blockerId, blockedId) {
      const cached = cache.get(`${blockerId} ${blockedId}`);
      if (cached && cached.until > now()) return cached.blocked;
      const blocked = (await blocks.findBlock(blockerId, blockedId)) !== undefined;
      remember(blockerId, blockedId, blocked);
      return blocked;
    },
    blockersAmong: (userId, candidates) => blocks.blockersAmong(userId, candidates),
  };

  return {
    ...checks,

    /** PUT /users/me/blocks/{userId}: idempotent (a repeat keeps the first blockedAt). */
    async block(callerId: string, userId: string): Promise<void> {
      await requireOtherUser(callerId, userId);
      if ((await blocks.findBlock(callerId, userId)) === undefined) {
        if ((await blocks.count(callerId)) >= deps.maxPerUser) {
          throw new AppError('CONFLICT', `You have blocked the maximum of ${deps.maxPerUser} users; unblock one first`);
        }
        await blocks.block(callerId, userId, now(), writeTimestamp());
      }
      remember(callerId, userId, true);
      // Told on repeats too: a first notice lost with Redis is sent again by the client's retry.
      await deps.listener?.blocked(callerId, userId).catch(() => {});
    },

    /** DELETE /users/me/blocks/{userId}: idempotent. */
    async unblock(callerId: string, userId: string): Promise<void> {
      await requireOtherUser(callerId, userId);
      await blocks.unblock(callerId, userId, writeTimestamp());
      remember(callerId, userId, false);
    },

    /** GET /users/me/blocks: every block (at most BLOCKS_MAX_PER_USER), in user-id order. */
    list: (callerId: string): Promise<Block[]> => blocks.list(callerId, deps.maxPerUser),
  };
}

export type BlockService = ReturnType<typeof createBlockService>;
