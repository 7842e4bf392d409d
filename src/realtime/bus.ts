import { Cluster, type Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { watchClusterSubscriptions } from './bus-cluster.js';
import { decodeEnvelope, type Envelope, type RealtimeEvent } from './events.js';

/** How long after a failed SUBSCRIBE/UNSUBSCRIBE on a live connection the channels are synced again. */
const RESYNC_MS = 1000;
/** Channels per SUBSCRIBE/UNSUBSCRIBE command when many are synced at once. */
const CHUNK = 1000;
/** Gaps whose channels became live within this window are reported together (one resync per connection). */
const REPORT_BATCH_MS = 20;

export type BusHandler = (channel: string, event: RealtimeEvent, from: string) => void;

/**
 * The transport between nodes (Centrifuge's Broker; socket.io's Redis adapter): publish an event
 * on a channel, and receive the events of the channels this node is subscribed to. It knows
 * nothing of users, groups or reference counts: the hub decides which channels the node needs
 * and calls `subscribe` once per channel (on its first local holder) and `unsubscribe` once (after
 * its last). The only real-time file that talks to Redis.
 */
export interface Bus {
  readonly nodeId: string;
  /** Publishes once; rejects when Redis cannot take it (callers decide whether that matters). */
  publish(channel: string, event: RealtimeEvent): Promise<void>;
  /**
   * The exact text `publish` sends for this event, for publishers that are not this module
   * (the presence store's Lua scripts publish the transition they make).
   */
  encode(event: RealtimeEvent): string;
  /**
   * Wants a channel (idempotent) and resolves once it is live on the subscriber connection: at
   * once when it already is. Rejects when Redis refused or did not answer (while it is away:
   * at once); the bus keeps wanting it and subscribes again by itself, reporting a gap then.
   */
  subscribe(channel: string): Promise<void>;
  /** Stops listening to a channel. */
  unsubscribe(channel: string): void;
  /** Sets the one handler of incoming events. */
  onEvent(handler: BusHandler): void;
  /**
   * Sets the one handler told which channels may have missed events (a subscriber reconnect; on
   * a cluster also a failover or slot migration; a SUBSCRIBE that failed), called only once
   * those channels are live again: a client told to catch up before that would catch up, then
   * miss again. The bus logs it and counts it; its caller tells the clients (resync).
   */
  onPossibleGap(handler: (channels: string[], reason: string) => void): void;
  /** `publish` or `spublish`: what the presence scripts must use so this bus receives it. */
  readonly publishCommand: 'publish' | 'spublish';
  close(): Promise<void>;
}

/**
 * Redis pub/sub. Publishing goes through the shared command connection; receiving uses a
 * dedicated subscriber connection (a subscribed connection can run nothing else).
 *
 * `wanted` is what the hub asked for; `live` is what the current subscriber connection is
 * subscribed to, as confirmed by Redis, and `doubtful` what a failed (e.g. timed-out) command left
 * unknown. A fresh connection starts with nothing, and ioredis's own resubscribing is off: it
 * would also bring back a channel whose UNSUBSCRIBE failed while Redis was away, and that channel
 * then stayed subscribed (and its events were received for nobody) until the node restarted. So
 * after every reconnect, and shortly after a command failed on a live connection, they are synced:
 * wanted but not live → SUBSCRIBE; live or doubtful but no longer wanted → UNSUBSCRIBE.
 *
 * A node's own publications come back to it through its subscription and are delivered like any
 * other: the echo is not dropped (socket.io's adapter drops it because it delivers locally first;
 * we do not). One path means every node hands a channel's events to its users in the one order
 * Redis published them. Delivering locally first would show the members on node A their own
 * node's group message before an earlier one from node B that everyone else saw first; and the
 * presence scripts publish in this node's name, so dropping "our" echo would hide a user's own
 * online/offline changes from the watchers on the node they are connected to.
 */
export function createRedisBus(deps: {
  publisher: Redis | Cluster;
  subscriber: Redis | Cluster;
  nodeId: string;
  logger: Logger;
  /** Counts possible gaps (switchboard_pubsub_possible_gaps_total). */
  observer?: { pubsubPossibleGap(reason: string): void };
}): Bus {
  const { publisher, nodeId, logger } = deps;
  /**
   * On a Redis Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis ≥ 7). Classic PUBLISH is
   * broadcast over the cluster bus to every node of every shard, so its cost grows with the
   * cluster; a sharded channel lives on its slot's shard only (every channel carries a hash tag).
   * The subscriber is an ioredis Cluster with `shardedSubscribers`: one connection per primary.
   * ioredis keeps its own list of sharded channels (a SUNSUBSCRIBE leaves it before it is sent,
   * so a refused one does not come back) and resubscribes them on the new primary after a
   * failover or slot migration; bus-cluster.ts tells which channels that left with a possible gap.
   * On one Redis: classic SUBSCRIBE/PUBLISH as before (NUMSUB, PSUBSCRIBE tools keep working).
   */
  const sharded = deps.subscriber instanceof Cluster;
  const subscriber = deps.subscriber as Redis;
  const cluster = sharded ? (deps.subscriber as Cluster) : undefined;
  const messageEvent = sharded ? 'smessage' : 'message';
  const subscribeCommand = (channels: string[]) =>
    sharded ? subscriber.ssubscribe(...channels) : subscriber.subscribe(...channels);
  const unsubscribeCommand = (channels: string[]) =>
    sharded ? subscriber.sunsubscribe(...channels) : subscriber.unsubscribe(...channels);
  const wanted = new Set<string>();
  const live = new Set<string>();
  const doubtful = new Set<string>();
  /** The latest SUBSCRIBE sent for each channel, until it settles (callers waiting for it share it). */
  const inFlight = new Map<string, Promise<void>>();
  /** Channels that may have missed events, with why: reported once each is live again. */
  const owed = new Map<string, string>();
  /** Reason → channels live again whose gap is about to be reported. */
  const toReport = new Map<string, string[]>();
  let reportTimer: NodeJS.Timeout | undefined;
  let handler: BusHandler = () => {};
  let gapHandler: (channels: string[], reason: string) => void = () => {};
  let connectedOnce = false;
  let resyncTimer: NodeJS.Timeout | undefined;
  let closed = false;

  // Whoever built the connection, it must not resubscribe by itself (see above).
  if (!sharded) subscriber.options.autoResubscribe = false;

  subscriber.on(messageEvent, (channel: string, raw: string) => {
    // Messages for a channel dropped a moment ago can still arrive: ignore them.
    if (!wanted.has(channel)) return;
    const envelope: Envelope | undefined = decodeEnvelope(raw);
    if (!envelope) {
      // A node of another version, or a stranger publishing on our channels: never half-read it.
      logger.warn({ channel }, 'dropping an unreadable pub/sub envelope');
      return;
    }
    try {
      handler(channel, envelope.event, envelope.node);
    } catch (error) {
      logger.error({ err: error, channel, from: envelope.node }, 'pub/sub handler failed');
    }
  });

  /**
   * SUBSCRIBE; `live` follows the confirmation (replies come in command order). Rejects when it
   * failed: the channel is then owed a gap report, since whoever relied on it (a member added to
   * a group while Redis was away) hears nothing until the retry below lands.
   */
  function sendSubscribe(channels: string[]): Promise<void> {
    const sent: Promise<void> = subscribeCommand(channels).then(
      () => {
        for (const channel of channels) {
          if (inFlight.get(channel) === sent) inFlight.delete(channel);
          live.add(channel);
          doubtful.delete(channel);
          const reason = owed.get(channel);
          if (reason !== undefined && wanted.has(channel)) {
            owed.delete(channel);
            queueReport(channel, reason);
          }
        }
      },
      (error: unknown) => {
        for (const channel of channels) {
          if (inFlight.get(channel) === sent) inFlight.delete(channel);
          if (wanted.has(channel)) owe(channel, 'subscribe failed');
        }
        markDoubtful(channels);
        // While disconnected this is expected (the 'ready' below catches up); say so only when live.
        const level = subscriber.status === 'ready' ? 'warn' : 'debug';
        logger[level]({ err: error, channels: channels.length }, 'redis subscribe failed');
        scheduleResync();
        throw error;
      },
    );
    for (const channel of channels) inFlight.set(channel, sent);
    return sent;
  }

  /** Settles when the wanted channel is live: at once, with the SUBSCRIBE in flight, or with a new one. */
  function whenLive(channel: string): Promise<void> {
    if (live.has(channel)) return Promise.resolve();
    return inFlight.get(channel) ?? sendSubscribe([channel]);
  }

  function owe(channel: string, reason: string) {
    if (!owed.has(channel)) owed.set(channel, reason);
  }

  function queueReport(channel: string, reason: string) {
    const channels = toReport.get(reason);
    if (channels) channels.push(channel);
    else toReport.set(reason, [channel]);
    if (reportTimer) return;
    reportTimer = setTimeout(() => {
      reportTimer = undefined;
      const batches = [...toReport];
      toReport.clear();
      for (const [why, batch] of batches) {
        const still = batch.filter((name) => wanted.has(name));
        if (still.length > 0 && !closed) possibleGap(still, why);
      }
    }, REPORT_BATCH_MS);
    reportTimer.unref();
  }

  /** Every wanted channel may have missed events: SUBSCRIBE them all again and report each once live. */
  function resubscribeAll(reason: string) {
    for (const channel of wanted) owe(channel, reason);
    const all = [...wanted];
    const chunk = sharded ? 1 : CHUNK;
    for (let i = 0; i < all.length; i += chunk) sendSubscribe(all.slice(i, i + chunk)).catch(() => {});
  }

  function sendUnsubscribe(channels: string[]) {
    unsubscribeCommand(channels).then(
      () => {
        // Even if wanted again meanwhile: that SUBSCRIBE was sent after this and re-adds it.
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

  /** Makes the connection's subscriptions equal the wanted channels. */
  function resync() {
    if (closed || subscriber.status !== 'ready') return;
    const missing = [...wanted].filter((channel) => !live.has(channel));
    const extra = [...new Set([...live, ...doubtful])].filter((channel) => !wanted.has(channel));
    // On a cluster one command's channels must share a slot: one channel per command there
    // (auto-pipelining batches them per node anyway).
    const chunk = sharded ? 1 : CHUNK;
    for (let i = 0; i < missing.length; i += chunk) sendSubscribe(missing.slice(i, i + chunk)).catch(() => {});
    for (let i = 0; i < extra.length; i += chunk) sendUnsubscribe(extra.slice(i, i + chunk));
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

  /** These channels lost events and are live again: say so, count it, and tell the owner. */
  function possibleGap(channels: string[], reason: string) {
    logger.warn({ reason, channels: channels.length }, 'pub/sub subscriptions restored: events may have been missed');
    deps.observer?.pubsubPossibleGap(reason);
    try {
      gapHandler(channels, reason);
    } catch (error) {
      logger.error({ err: error }, 'pub/sub gap handler failed');
    }
  }

  // The connection is gone, and with it every subscription the server held for it: nothing is
  // live until the next 'ready' resubscribes (a connection set up meanwhile must not be told
  // `ready`), and whatever was live is owed a gap report.
  subscriber.on('close', () => {
    if (sharded) return;
    for (const channel of live) owe(channel, 'reconnect');
    live.clear();
    doubtful.clear();
  });

  // A new connection: the server knows none of the old one's subscriptions. (On a cluster this
  // is the cluster's command connections; the sharded subscribers report through the events
  // below, and ioredis resubscribes its own list, so `live` is kept and only gaps are filled.)
  subscriber.on('ready', () => {
    if (!sharded) {
      for (const channel of connectedOnce ? live : []) owe(channel, 'reconnect');
      live.clear();
      doubtful.clear();
      resync();
    } else if (connectedOnce) {
      resubscribeAll('reconnect');
    } else {
      resync();
    }
    connectedOnce = true;
  });
  // Cluster: a failover or slot migration moved channels to another primary, or a subscriber
  // connection was replaced; ioredis has subscribed them on their slot's owner again (bus-cluster.ts).
  // SSUBSCRIBE them once more on their slot's current owner (harmless when ioredis already did; a
  // duplicate SSUBSCRIBE is a no-op on the server): its confirmation proves the channel live, and
  // the gap is reported then, so a client told to resync cannot miss what follows.
  const clusterWatch = cluster
    ? watchClusterSubscriptions({
        cluster,
        logger,
        wanted: () => wanted.values(),
        onGap(channels, reason) {
          for (const channel of channels) {
            if (!wanted.has(channel)) continue;
            owe(channel, reason);
            sendSubscribe([channel]).catch(() => {});
          }
        },
      })
    : undefined;
  if (subscriber.status === 'wait') subscriber.connect().catch(() => {});

  const encode = (event: RealtimeEvent) => JSON.stringify({ node: nodeId, event } satisfies Envelope);

  return {
    nodeId,

    publishCommand: sharded ? 'spublish' : 'publish',

    async publish(channel, event) {
      await (sharded ? publisher.spublish(channel, encode(event)) : publisher.publish(channel, encode(event)));
    },

    encode,

    subscribe(channel) {
      if (wanted.has(channel)) return whenLive(channel);
      wanted.add(channel);
      clusterWatch?.track(channel);
      // Sent even if still live: an UNSUBSCRIBE of it may be on its way. On failure the resync
      // (shortly, or on 'ready') subscribes it again, and reports the gap once it holds.
      return sendSubscribe([channel]);
    },

    unsubscribe(channel) {
      if (!wanted.delete(channel)) return;
      owed.delete(channel);
      clusterWatch?.untrack(channel);
      // Commands on one connection run in order, so a later SUBSCRIBE of the same channel wins.
      sendUnsubscribe([channel]);
    },

    onEvent(next) {
      handler = next;
    },

    onPossibleGap(next) {
      gapHandler = next;
    },

    async close() {
      closed = true;
      clearTimeout(resyncTimer);
      clearTimeout(reportTimer);
      clusterWatch?.close();
      wanted.clear();
      owed.clear();
      live.clear();
      doubtful.clear();
      subscriber.disconnect();
    },
  };
}
