import { resync } from './events.js';
import type { Hub, RealtimeConnection } from './hub.js';

export interface GapObserver {
  /** `resync` frames handed to local connections, by reason. */
  resyncDelivered(reason: string, count: number): void;
}

/**
 * Telling clients about a gap. Centrifuge's rule, "a gap is never silent": when this node may
 * have lost events of some channels (its subscriber reconnected, a slot moved, a publish was
 * given up), each local connection that holds one of them gets one `resync` frame and catches up
 * from its cursors. Before, the node resubscribed and said nothing: a client connected through a
 * Redis restart showed a conversation without the messages sent during the restart until the
 * user happened to reconnect, possibly days later.
 *
 * Only the connections that hold an affected channel: a slot move on a cluster touches the
 * channels of that slot, and telling every client on the node would make all of them catch up
 * (a reconnect storm in all but name) for a gap that concerns a few.
 */
export function createGaps(deps: { hub: Hub; observer?: GapObserver | undefined }) {
  const { hub } = deps;

  /** The local connections holding these channels, and the users whose user or group channel is among them. */
  function affected(channels: readonly string[]) {
    const connections = new Set<RealtimeConnection>();
    const userIds = new Set<string>();
    for (const channel of channels) {
      const owner = hub.ownerOf(channel);
      if (!owner) continue;
      if (owner.kind === 'presence') {
        for (const id of hub.holders(owner)) {
          const connection = hub.connection(id);
          if (connection) connections.add(connection);
        }
        continue;
      }
      const users = owner.kind === 'user' ? [owner.id] : hub.holders(owner);
      for (const userId of users) {
        userIds.add(userId);
        for (const connection of hub.connectionsOf(userId)) connections.add(connection);
      }
    }
    return { connections, userIds };
  }

  return {
    /**
     * Sends one `resync` to each local connection holding one of these channels (call it only
     * once they are live again); returns the users whose user or group channels were affected.
     */
    tell(channels: readonly string[], reason: string): Set<string> {
      const { connections, userIds } = affected(channels);
      const event = resync(reason);
      for (const connection of connections) connection.deliver(event);
      if (connections.size > 0) deps.observer?.resyncDelivered(reason, connections.size);
      return userIds;
    },
  };
}

export type Gaps = ReturnType<typeof createGaps>;
