import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type { Logger } from '../logger.js';

/** How long the sharded subscribers must stay settled before a gap is reported. */
const GAP_SETTLE_MS = 500;

/**
 * Tells a Redis Cluster bus which of its sharded channels may have missed events: those whose
 * slot moved to another primary (a slot migration, a failover) and, when a subscriber
 * connection was lost, all of them. Called once ioredis has subscribed them again on their
 * slot's current owner (`subscribersReady`), and once the resets have stopped for GAP_SETTLE_MS:
 * while a dead primary is still in the slot map ioredis retries it many times a second.
 */
export interface ClusterSubscriptionWatch {
  /** The bus wants this channel now (before its SSUBSCRIBE is sent): remembers who holds its slot. */
  track(channel: string): void;
  untrack(channel: string): void;
  close(): void;
}

/**
 * Why not just "the subscriber saw a SUNSUBSCRIBE": when a slot moves, its old primary pushes
 * SUNSUBSCRIBE for that slot's channels, but ioredis 5 has no event for it. Its reply parser
 * takes the push for the reply to the oldest pending command: with none pending it emits
 * "Command queue state error … Last reply: sunsubscribe,<channel>,<n>"; with one pending (an
 * SSUBSCRIBE the hub just sent) it silently resolves that command with the push instead, and
 * nothing at all tells the node. A bus that waited for the error would then leave the
 * channel's clients without a gap report, and detection also depended on a flag that the
 * cluster's command pool set at start-up (its '-node' event is the same name as the
 * subscribers'), so every later topology change read as "connection lost" for every channel.
 *
 * So the slot map decides: each tracked channel remembers the primary that held its slot when
 * it was last known subscribed; after ioredis resubscribed following a topology change, a
 * channel whose slot now has another primary moved, and events published between the move and
 * the new SSUBSCRIBE reached nobody on this node. That holds however ioredis learnt of the
 * move (the pushed SUNSUBSCRIBE, a MOVED reply, a dead node, the periodic slot refresh) and
 * whatever order the primaries learnt it in. The pushed SUNSUBSCRIBE, when ioredis does report
 * it, only makes ioredis refresh its slot map at once instead of within slotsRefreshInterval.
 */
export function watchClusterSubscriptions(deps: {
  cluster: Cluster;
  logger: Logger;
  /** The channels the bus wants now. */
  wanted(): Iterable<string>;
  /** These channels may have missed events and are subscribed on their slot's owner again. */
  onGap(channels: string[], reason: string): void;
}): ClusterSubscriptionWatch {
  const { cluster, logger } = deps;
  /** Channel → the primary (`host:port`) that held its slot when it was last known subscribed. */
  const owners = new Map<string, string | undefined>();
  /** A sharded subscriber connection was replaced since the last report: all its subscriptions were lost. */
  let connectionLost = false;
  let settleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const ownerOf = (channel: string) => cluster.slots[calculateSlot(channel)]?.[0];

  // ioredis replaces a sharded subscriber whose connection ended (its primary died or restarted)
  // or whose node no longer holds any slot. Not '-node': the cluster's command pool emits that
  // name too (its connections come and go at start-up), which says nothing about subscriptions.
  cluster.on('-subscriber', () => {
    connectionLost = true;
  });
  cluster.on('nodeError', (error: Error) => {
    // A SUNSUBSCRIBE pushed by a primary that gave a slot away (see above): find the new owner now.
    if (!closed && /sunsubscribe/i.test(error.message)) cluster.refreshSlotsCache();
  });
  cluster.on('subscribersReady', () => {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(settle, GAP_SETTLE_MS);
    settleTimer.unref();
  });

  function settle() {
    settleTimer = undefined;
    if (closed) return;
    const wanted = [...deps.wanted()];
    // A channel tracked before the slot map was first loaded has no known owner: not a move.
    const moved = wanted.filter((channel) => {
      const before = owners.get(channel);
      return before !== undefined && before !== ownerOf(channel);
    });
    for (const channel of wanted) owners.set(channel, ownerOf(channel));
    if (connectionLost) {
      connectionLost = false;
      report(wanted, 'subscriber connection lost');
    } else if (moved.length > 0) {
      report(moved, 'slot moved');
    }
  }

  function report(channels: string[], reason: string) {
    if (channels.length === 0) return;
    try {
      deps.onGap(channels, reason);
    } catch (error) {
      logger.error({ err: error }, 'pub/sub gap handler failed');
    }
  }

  return {
    track(channel) {
      owners.set(channel, ownerOf(channel));
    },
    untrack(channel) {
      owners.delete(channel);
    },
    close() {
      closed = true;
      clearTimeout(settleTimer);
    },
  };
}
