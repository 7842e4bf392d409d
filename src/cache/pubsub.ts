import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/** What travels on a channel: the publishing node's id next to the event itself. */
export interface Envelope<E> {
  node: string;
  event: E;
}

export type EnvelopeHandler<E> = (channel: string, envelope: Envelope<E>) => void;

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
  /** Adds a reference; resolves once Redis confirmed the subscription (or it failed and was logged). */
  subscribe(channel: string): Promise<void>;
  /** Drops a reference; the channel is unsubscribed when none are left (then answers true). */
  unsubscribe(channel: string): boolean;
  /** Settles when a referenced channel's subscription is confirmed (at once for others). */
  ready(channel: string): Promise<void>;
  /** Sets the one handler of incoming envelopes. */
  onEnvelope(handler: EnvelopeHandler<E>): void;
  close(): Promise<void>;
}

export function createPubSub<E>(deps: {
  publisher: Redis;
  subscriber: Redis;
  nodeId: string;
  logger: Logger;
}): PubSub<E> {
  const { publisher, subscriber, nodeId, logger } = deps;
  const refs = new Map<string, { count: number; ready: Promise<void> }>();
  let handler: EnvelopeHandler<E> = () => {};

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

  // After a reconnect, listen again to everything still referenced: subscriptions attempted
  // while Redis was away failed, and the server forgot the others with the old connection.
  subscriber.on('ready', () => {
    if (refs.size === 0) return;
    subscriber.subscribe(...refs.keys()).catch((error: unknown) => {
      logger.warn({ err: error, channels: refs.size }, 'resubscribing after reconnect failed');
    });
  });
  if (subscriber.status === 'wait') subscriber.connect().catch(() => {});

  return {
    nodeId,

    async publish(channel, event) {
      const envelope: Envelope<E> = { node: nodeId, event };
      await publisher.publish(channel, JSON.stringify(envelope));
    },

    subscribe(channel) {
      const entry = refs.get(channel);
      if (entry) {
        entry.count++;
        return entry.ready;
      }
      const ready = subscriber.subscribe(channel).then(
        () => {},
        (error: unknown) => {
          // Best effort: the 'ready' handler above retries once the connection is back.
          logger.warn({ err: error, channel }, 'redis subscribe failed');
        },
      );
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
      subscriber.unsubscribe(channel).catch((error: unknown) => {
        logger.debug({ err: error, channel }, 'redis unsubscribe failed');
      });
      return true;
    },

    ready: (channel) => refs.get(channel)?.ready ?? Promise.resolve(),

    onEnvelope(next) {
      handler = next;
    },

    async close() {
      refs.clear();
      subscriber.disconnect();
    },
  };
}
