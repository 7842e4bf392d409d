import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/** What travels on a channel: the publishing node's id next to the event itself. */
export interface Envelope<E> {
  node: string;
  event: E;
}

export type EnvelopeHandler<E> = (channel: string, envelope: Envelope<E>) => void;

/** How long after a failed SUBSCRIBE/UNSUBSCRIBE on a live connection the channels are synced again. */
const RESYNC_MS = 1000;
/** Channels per SUBSCRIBE/UNSUBSCRIBE command when many are synced at once. */
const CHUNK = 1000;

/**
 * Redis pub/sub for cross-node fan-out. Publishing goes through the shared command connection;
 * receiving uses a dedicated subscriber connection (a subscribed connection can run nothing
 * else). Subscriptions are reference-counted, so a node listens only to the channels its
 * connected users need and drops each one when its last user leaves.
 */
export interface PubSub<E> {
  readonly nodeId: string;
  /** Publishes once; rejects when Redis cannot take it (callers decide whether that matters). */
  publish(channel: string, event: E): Promise<void>;
  /**
   * The exact text `publish` sends for this event, for publishers that are not this module
   * (a Lua script that publishes as part of a state change).
   */
  encode(event: E): string;
  /** Adds a reference; resolves once Redis confirmed the subscription (or it failed and was logged). */
  subscribe(channel: string): Promise<void>;
  /** Drops a reference; the channel is unsubscribed when none are left (then answers true). */
  unsubscribe(channel: string): boolean;
  /** Settles when a referenced channel's subscription is confirmed (at once for others). */
  ready(channel: string): Promise<void>;
  /** Sets the one handler of incoming envelopes. */
  onEnvelope(handler: EnvelopeHandler<E>): void;
  /**
   * Sets the one handler called each time the subscriber connection is (re)established and the
   * referenced channels were subscribed again: whatever was published meanwhile was missed.
   */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}

/**
 * `refs` is what this node needs; `live` is what the current subscriber connection is subscribed
 * to, as confirmed by Redis, and `doubtful` what a failed (e.g. timed-out) command left unknown.
 * A fresh connection starts with nothing (ioredis's own resubscribing is off: it would also bring
 * back channels whose UNSUBSCRIBE failed while Redis was away), so after every reconnect, and
 * shortly after a command failed on a live connection, they are synced: referenced but not live
 * → SUBSCRIBE; live or doubtful but no longer referenced → UNSUBSCRIBE.
 */
export function createPubSub<E>(deps: {
  publisher: Redis;
  subscriber: Redis;
  nodeId: string;
  logger: Logger;
}): PubSub<E> {
  const { publisher, subscriber, nodeId, logger } = deps;
  const refs = new Map<string, { count: number; ready: Promise<void> }>();
  const live = new Set<string>();
  const doubtful = new Set<string>();
  let handler: EnvelopeHandler<E> = () => {};
  let reconnected: () => void = () => {};
  let resyncTimer: NodeJS.Timeout | undefined;
  let closed = false;

  // Whoever built the connection, it must not resubscribe by itself (see above).
  subscriber.options.autoResubscribe = false;

  subscriber.on('message', (channel: string, raw: string) => {
    // Messages for a channel dropped a moment ago can still arrive: ignore them.
    if (!refs.has(channel)) return;
    let envelope: Envelope<E>;
    try {
      envelope = JSON.parse(raw) as Envelope<E>;
    } catch (error) {
      logger.warn({ err: error, channel }, 'dropping malformed pub/sub envelope');
      return;
    }
    if (typeof envelope?.node !== 'string' || typeof envelope.event !== 'object' || envelope.event === null) {
      logger.warn({ channel }, 'dropping pub/sub envelope without node or event');
      return;
    }
    try {
      handler(channel, envelope);
    } catch (error) {
      logger.error({ err: error, channel, from: envelope.node }, 'pub/sub handler failed');
    }
  });

  /** SUBSCRIBE; `live` follows the confirmation (replies come in command order). */
  function sendSubscribe(channels: string[]): Promise<void> {
    return subscriber.subscribe(...channels).then(
      () => {
        for (const channel of channels) {
          live.add(channel);
          doubtful.delete(channel);
        }
      },
      (error: unknown) => {
        markDoubtful(channels);
        // While disconnected this is expected (the 'ready' below catches up); say so only when live.
        const level = subscriber.status === 'ready' ? 'warn' : 'debug';
        logger[level]({ err: error, channels: channels.length }, 'redis subscribe failed');
        scheduleResync();
      },
    );
  }

  function sendUnsubscribe(channels: string[]) {
    subscriber.unsubscribe(...channels).then(
      () => {
        // Even if referenced again meanwhile: that SUBSCRIBE was sent after this and re-adds it.
        for (const channel of channels) {
          live.delete(channel);
          doubtful.delete(channel);
        }
      },
      (error: unknown) => {
        markDoubtful(channels);
        logger.debug({ err: error, channels: channels.length }, 'redis unsubscribe failed');
        scheduleResync();
      },
    );
  }

  /** The command may or may not have run (a timeout): the next resync settles these channels. */
  function markDoubtful(channels: string[]) {
    for (const channel of channels) {
      live.delete(channel);
      doubtful.add(channel);
    }
  }

  /** Makes the connection's subscriptions equal the referenced channels. */
  function resync() {
    if (closed || subscriber.status !== 'ready') return;
    const missing = [...refs.keys()].filter((channel) => !live.has(channel));
    const extra = [...new Set([...live, ...doubtful])].filter((channel) => !refs.has(channel));
    for (let i = 0; i < missing.length; i += CHUNK) void sendSubscribe(missing.slice(i, i + CHUNK));
    for (let i = 0; i < extra.length; i += CHUNK) sendUnsubscribe(extra.slice(i, i + CHUNK));
  }

  // While Redis is away, the 'ready' below does the work; on a live connection, retry shortly.
  function scheduleResync() {
    if (closed || resyncTimer) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = undefined;
      resync();
    }, RESYNC_MS);
    resyncTimer.unref();
  }

  // A new connection: the server knows none of the old one's subscriptions.
  subscriber.on('ready', () => {
    live.clear();
    doubtful.clear();
    resync();
    try {
      reconnected();
    } catch (error) {
      logger.error({ err: error }, 'pub/sub reconnect handler failed');
    }
  });
  if (subscriber.status === 'wait') subscriber.connect().catch(() => {});

  const encode = (event: E) => JSON.stringify({ node: nodeId, event } satisfies Envelope<E>);

  return {
    nodeId,

    async publish(channel, event) {
      await publisher.publish(channel, encode(event));
    },

    encode,

    subscribe(channel) {
      const entry = refs.get(channel);
      if (entry) {
        entry.count++;
        return entry.ready;
      }
      // Sent even if still live: an UNSUBSCRIBE of it may be on its way. Best effort: on
      // failure, the resync (shortly, or on 'ready') subscribes it again.
      const ready = sendSubscribe([channel]);
      refs.set(channel, { count: 1, ready });
      return ready;
    },

    unsubscribe(channel) {
      const entry = refs.get(channel);
      if (!entry) return false;
      entry.count--;
      if (entry.count > 0) return false;
      refs.delete(channel);
      // Commands on one connection run in order, so a later SUBSCRIBE of the same channel wins.
      sendUnsubscribe([channel]);
      return true;
    },

    ready: (channel) => refs.get(channel)?.ready ?? Promise.resolve(),

    onEnvelope(next) {
      handler = next;
    },

    onReconnect(next) {
      reconnected = next;
    },

    async close() {
      closed = true;
      clearTimeout(resyncTimer);
      refs.clear();
      live.clear();
      doubtful.clear();
      subscriber.disconnect();
    },
  };
}
