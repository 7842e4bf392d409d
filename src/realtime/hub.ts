import type { Bus } from './bus.js';
import type { ClientEvent } from './events.js';

/** A client connection as the real-time layer sees it; the gateway owns the socket behind it. */
export interface RealtimeConnection {
  readonly id: string;
  readonly userId: string;
  /** Queues the event for the client. Must not throw; the same event object goes to many connections. */
  deliver(event: ClientEvent): void;
}

/** What a channel is about: the user, group or watched user whose events it carries. */
export type ChannelKind = 'user' | 'group' | 'presence';
export interface ChannelOwner {
  kind: ChannelKind;
  id: string;
}

/** Channel names (spelled in cache/keys.ts, the one place that spells Redis names). */
export interface RealtimeChannels {
  userChannel(userId: string): string;
  groupChannel(groupId: string): string;
  presenceChannel(userId: string): string;
}

interface Room extends ChannelOwner {
  /** Who on this node needs the channel: user ids (user and group channels) or connection ids (presence). */
  holders: Set<string>;
}

/**
 * This node's connections and the channels they need: Centrifuge's Hub, socket.io's in-memory
 * adapter. The one place that counts references: a channel is subscribed on the bus when its
 * first holder arrives and unsubscribed when its last one leaves.
 *
 * Why one place: the counts used to be kept twice (the real-time service's member and watcher
 * sets decided when to subscribe, and the pub/sub module counted references per channel again).
 * Two counts must agree forever: the day one path moves only one of them, a channel either stays
 * subscribed for nobody (Redis keeps sending this node every event of that group) or is
 * unsubscribed under a user who still needs it, and that user silently stops getting the group's
 * messages until they reconnect. One count cannot disagree with itself.
 */
export interface Hub {
  /** Adds a connection; true when it is the first of its user on this node. */
  add(connection: RealtimeConnection): boolean;
  /** Removes a connection: 'last' when it was its user's last here, 'unknown' when it was not added. */
  remove(connection: RealtimeConnection): 'last' | 'more' | 'unknown';
  has(connection: RealtimeConnection): boolean;
  connection(id: string): RealtimeConnection | undefined;
  connectionsOf(userId: string): ReadonlySet<RealtimeConnection>;
  /** Every connection on this node. */
  connections(): RealtimeConnection[];
  /** Users with a connection on this node. */
  userIds(): string[];
  /**
   * Adds a holder to the owner's channel; resolves once the channel is live, rejects when it
   * cannot be subscribed now (the holder stays: the bus keeps trying). Idempotent per holder.
   */
  hold(owner: ChannelOwner, holder: string): Promise<void>;
  /** Removes a holder (idempotent); the channel is unsubscribed after the last one. */
  release(owner: ChannelOwner, holder: string): void;
  /** Who holds the owner's channel on this node (empty when nobody). */
  holders(owner: ChannelOwner): ReadonlySet<string>;
  /**
   * Settles when the owner's channel is live now (at once when nobody holds it); rejects when it
   * is not and cannot be subscribed now. Asked again each time: a channel live an hour ago may
   * be down now (Redis restarted), and a connection told `ready` then would miss events.
   */
  ready(owner: ChannelOwner): Promise<void>;
  /** The owner of a channel this node is subscribed to (undefined for any other). */
  ownerOf(channel: string): ChannelOwner | undefined;
  /** The channel name of an owner. */
  channelOf(owner: ChannelOwner): string;
}

const NONE: ReadonlySet<never> = new Set();

export function createHub(deps: { bus: Pick<Bus, 'subscribe' | 'unsubscribe'>; channels: RealtimeChannels }): Hub {
  const { bus, channels } = deps;
  const byUser = new Map<string, Set<RealtimeConnection>>();
  const byId = new Map<string, RealtimeConnection>();
  const rooms = new Map<string, Room>();

  const channelOf = (owner: ChannelOwner) =>
    owner.kind === 'user'
      ? channels.userChannel(owner.id)
      : owner.kind === 'group'
        ? channels.groupChannel(owner.id)
        : channels.presenceChannel(owner.id);

  return {
    add(connection) {
      byId.set(connection.id, connection);
      const mine = byUser.get(connection.userId);
      if (mine) {
        mine.add(connection);
        return false;
      }
      byUser.set(connection.userId, new Set([connection]));
      return true;
    },

    remove(connection) {
      const mine = byUser.get(connection.userId);
      if (!mine?.delete(connection)) return 'unknown';
      byId.delete(connection.id);
      if (mine.size > 0) return 'more';
      byUser.delete(connection.userId);
      return 'last';
    },

    has: (connection) => byUser.get(connection.userId)?.has(connection) ?? false,
    connection: (id) => byId.get(id),
    connectionsOf: (userId) => byUser.get(userId) ?? NONE,
    connections: () => [...byId.values()],
    userIds: () => [...byUser.keys()],

    hold(owner, holder) {
      const channel = channelOf(owner);
      let room = rooms.get(channel);
      if (!room) {
        room = { ...owner, holders: new Set() };
        rooms.set(channel, room);
      }
      room.holders.add(holder);
      return bus.subscribe(channel);
    },

    release(owner, holder) {
      const channel = channelOf(owner);
      const room = rooms.get(channel);
      if (!room?.holders.delete(holder) || room.holders.size > 0) return;
      rooms.delete(channel);
      bus.unsubscribe(channel);
    },

    holders: (owner) => rooms.get(channelOf(owner))?.holders ?? NONE,
    ready(owner) {
      const channel = channelOf(owner);
      return rooms.has(channel) ? bus.subscribe(channel) : Promise.resolve();
    },

    ownerOf(channel) {
      const room = rooms.get(channel);
      return room ? { kind: room.kind, id: room.id } : undefined;
    },

    channelOf,
  };
}
