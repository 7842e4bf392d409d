import type { Logger } from '../logger.js';
import type { Bus } from './bus.js';
import { type RealtimeEvent, resync } from './events.js';

/** Pauses before each retry of a failed publish (three retries, about 2.1 s in all). */
export const PUBLISH_RETRY_DELAYS_MS = [100, 400, 1600];
/** Failed publishes waiting for a retry on this node at most; past it an event is given up at once. */
export const MAX_QUEUED_RETRIES = 10_000;
/** Channels owed a resync notice at most (a few MB); past it the gap can only be logged. */
const MAX_OWED_NOTICES = 100_000;
/** How often owed resync notices are tried while Redis does not take them. */
const NOTICE_RETRY_MS = 1000;
/** Resync notices published at once. */
const NOTICE_BATCH = 100;

export interface PublisherObserver {
  /** A failed publish was queued for a retry. */
  pubsubPublishRetried(): void;
  /** A publish was given up (`retries exhausted` or `queue full`): its channel is owed a resync notice. */
  pubsubPublishGivenUp(reason: 'retries exhausted' | 'queue full'): void;
  /** A resync notice was published on a channel. */
  pubsubResyncNoticePublished(): void;
}

export interface Publisher {
  /**
   * Publishes once and resolves after that attempt (bounded by the Redis command timeout);
   * never rejects. With `retry`, a failed event is retried in the background, and if it is given
   * up its channel gets a `resync` notice as soon as Redis takes one.
   */
  publish(channel: string, event: RealtimeEvent, options: { retry: boolean }): Promise<void>;
  close(): void;
}

/**
 * Publishing that is never a silent drop. A publish that times out (the 100 ms command timeout
 * fired 28 times in one measured run at 200 messages/s) used to be logged and forgotten: the
 * message was stored and answered 201, and a recipient online the whole time never saw it, with
 * nothing telling its client to look. Now the event is retried a few times with backoff from a
 * bounded per-node queue (a duplicate is harmless: clients deduplicate messages by id, a node
 * drops a `message.status` that moves nothing, a membership notice only makes nodes re-read),
 * and when it is finally given up (or the queue is full) the channel is owed a `resync`
 * notice: published there once Redis answers again, it makes every node that holds the channel
 * tell its connections to catch up from their cursors.
 *
 * Typing is published without retry: it is not stored, so there is nothing to catch up on, and
 * a late "typing" is wrong rather than useful.
 */
export function createPublisher(deps: {
  bus: Pick<Bus, 'publish'>;
  logger: Logger;
  observer?: PublisherObserver | undefined;
  retryDelaysMs?: readonly number[];
  maxQueued?: number;
}): Publisher {
  const { bus, logger } = deps;
  const delays = deps.retryDelaysMs ?? PUBLISH_RETRY_DELAYS_MS;
  const maxQueued = deps.maxQueued ?? MAX_QUEUED_RETRIES;
  const timers = new Set<NodeJS.Timeout>();
  const owed = new Set<string>();
  let noticeTimer: NodeJS.Timeout | undefined;
  let closed = false;

  function retryLater(channel: string, event: RealtimeEvent, attempt: number) {
    const delay = delays[attempt];
    if (delay === undefined) return giveUp(channel, event, 'retries exhausted');
    if (timers.size >= maxQueued) return giveUp(channel, event, 'queue full');
    deps.observer?.pubsubPublishRetried();
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (closed) return;
      bus.publish(channel, event).catch(() => retryLater(channel, event, attempt + 1));
    }, delay);
    timer.unref();
    timers.add(timer);
  }

  function giveUp(channel: string, event: RealtimeEvent, reason: 'retries exhausted' | 'queue full') {
    deps.observer?.pubsubPublishGivenUp(reason);
    if (owed.size >= MAX_OWED_NOTICES && !owed.has(channel)) {
      logger.error({ kind: event.type, reason }, 'real-time publish given up and too many resync notices owed');
      return;
    }
    if (owed.size === 0)
      logger.warn({ kind: event.type, reason }, 'real-time publish given up; its channel will be told to resync');
    owed.add(channel);
    scheduleNotices();
  }

  function scheduleNotices() {
    if (noticeTimer || closed) return;
    noticeTimer = setTimeout(() => {
      noticeTimer = undefined;
      void publishNotices();
    }, NOTICE_RETRY_MS);
    noticeTimer.unref();
  }

  /** Publishes the owed notices, a batch at a time; stops at the first batch Redis refuses. */
  async function publishNotices() {
    const notice = resync('publish failed');
    const channels = [...owed];
    for (let i = 0; i < channels.length && !closed; i += NOTICE_BATCH) {
      const results = await Promise.allSettled(
        channels.slice(i, i + NOTICE_BATCH).map(async (channel) => {
          await bus.publish(channel, notice);
          owed.delete(channel);
          deps.observer?.pubsubResyncNoticePublished();
        }),
      );
      if (results.some((result) => result.status === 'rejected')) break;
    }
    if (owed.size > 0) scheduleNotices();
  }

  return {
    async publish(channel, event, options) {
      try {
        await bus.publish(channel, event);
      } catch (error) {
        logger.debug({ err: error, kind: event.type }, 'real-time publish failed');
        if (options.retry && !closed) retryLater(channel, event, 0);
      }
    },

    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      clearTimeout(noticeTimer);
    },
  };
}
