import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceRecord } from '../../src/cache/presence.js';
import type { EnvelopeHandler, PubSub } from '../../src/cache/pubsub.js';
import { newId } from '../../src/domain/ids.js';
import type { Receipt } from '../../src/domain/types.js';
import {
  type BusEvent,
  createRealtimeService,
  type RealtimeConnection,
  type RealtimeEvent,
  type RealtimeService,
} from '../../src/services/realtime.js';

/**
 * The real-time service's own rules, driven without Redis or Cassandra: a bus that records what
 * is published and lets the test deliver envelopes, a group list the test answers by hand.
 */
const channels = {
  userChannel: (id: string) => `user:${id}`,
  groupChannel: (id: string) => `group:${id}`,
  presenceChannel: (id: string) => `presence:${id}`,
};

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setUp() {
  const refs = new Map<string, number>();
  const published: Array<{ channel: string; event: BusEvent }> = [];
  let failures = 0;
  let handler: EnvelopeHandler<BusEvent> = () => {};
  let reconnected = () => {};
  const pubsub: PubSub<BusEvent> = {
    nodeId: 'unit',
    async publish(channel, event) {
      if (failures > 0) {
        failures--;
        throw new Error('Connection is closed.');
      }
      published.push({ channel, event });
    },
    encode: (event) => JSON.stringify({ node: 'unit', event }),
    async subscribe(channel) {
      refs.set(channel, (refs.get(channel) ?? 0) + 1);
    },
    unsubscribe(channel) {
      const count = (refs.get(channel) ?? 0) - 1;
      if (count > 0) refs.set(channel, count);
      else refs.delete(channel);
      return count === 0;
    },
    ready: async () => {},
    onEnvelope(next) {
      handler = next;
    },
    onReconnect(next) {
      reconnected = next;
    },
    async close() {},
  };
  /** Group-list reads waiting for the test to answer, oldest first. */
  const reads: Array<{ userId: string; answer: Deferred<string[]> }> = [];
  const presenceReads: Array<Deferred<PresenceRecord[]>> = [];
  const realtime = createRealtimeService({
    pubsub,
    presence: {
      touch: async () => false,
      remove: async () => false,
      sweep: async () => ({ scanned: 0, offline: [] }),
      liveConnections: async () => 0,
      read: () => {
        const answer = deferred<PresenceRecord[]>();
        presenceReads.push(answer);
        return answer.promise;
      },
    },
    groups: {
      listGroupIdsOfUser: (userId: string) => {
        const answer = deferred<string[]>();
        reads.push({ userId, answer });
        return answer.promise;
      },
    },
    channels,
    logger: pino({ level: 'silent' }),
    refreshMs: 60_000,
    reconcileMs: 3_600_000,
  });
  realtime.start();

  const flush = () => new Promise((resolve) => setImmediate(resolve));

  /** A connected user, set up with the given groups. */
  async function connect(userId: string, groupIds: string[]) {
    const events: RealtimeEvent[] = [];
    const connection: RealtimeConnection = { id: newId(), userId, deliver: (event) => events.push(event) };
    const registered = realtime.register(connection);
    await flush();
    answerRead(userId, groupIds);
    await registered;
    return { connection, events };
  }

  function answerRead(userId: string, groupIds: string[]) {
    const index = reads.findIndex((read) => read.userId === userId);
    if (index < 0) throw new Error(`no pending group read for ${userId}`);
    const [read] = reads.splice(index, 1);
    read?.answer.resolve(groupIds);
  }

  /** Delivers an envelope as if it came from another node (only on channels this node listens to). */
  function deliver(channel: string, event: BusEvent) {
    if (refs.has(channel)) handler(channel, { node: 'other', event });
  }

  const groupMessage = (groupId: string) =>
    ({
      kind: 'message',
      message: {
        id: newId(),
        conversationId: groupId,
        senderId: newId(),
        receiverId: null,
        groupId,
        content: 'hi',
        createdAt: Date.now(),
        clientTimestamp: null,
        status: 'sent',
      },
    }) as unknown as BusEvent;

  return {
    realtime,
    published,
    refs,
    reads,
    presenceReads,
    connect,
    answerRead,
    deliver,
    groupMessage,
    flush,
    failNextPublishes(count: number) {
      failures = count;
    },
    reconnect: () => reconnected(),
  };
}

const types = (events: RealtimeEvent[]) => events.map((event) => event.type);

let service: RealtimeService | undefined;
afterEach(() => service?.stop());

describe('membership changes', () => {
  it('retries a failed membership publish and announces it on the user’s and the group’s channel', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    t.failNextPublishes(3);
    await t.realtime.membershipChanged(groupId, userId, 'left');
    expect(t.published.map((entry) => entry.channel).sort()).toEqual(
      [channels.groupChannel(groupId), channels.userChannel(userId)].sort(),
    );
    for (const entry of t.published) {
      expect(entry.event).toMatchObject({ kind: 'membership', groupId, userId, change: 'left' });
    }
  });

  it('stops delivering a group’s events to a user whose removal arrives on the group’s channel', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, gone, stays] = [newId(), newId(), newId()];
    const goneSocket = await t.connect(gone, [groupId]);
    const staysSocket = await t.connect(stays, [groupId]);
    t.deliver(channels.groupChannel(groupId), {
      kind: 'membership',
      groupId,
      userId: gone,
      change: 'left',
      at: Date.now(),
    });
    t.deliver(channels.groupChannel(groupId), t.groupMessage(groupId));
    expect(types(goneSocket.events)).toEqual([]);
    expect(types(staysSocket.events)).toEqual(['message.created']);
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(true);
  });

  it('ignores a late duplicate of an older join after a removal', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    const socket = await t.connect(userId, [groupId]);
    const now = Date.now();
    t.deliver(channels.userChannel(userId), { kind: 'membership', groupId, userId, change: 'joined', at: now - 10 });
    t.deliver(channels.userChannel(userId), { kind: 'membership', groupId, userId, change: 'left', at: now });
    t.deliver(channels.userChannel(userId), { kind: 'membership', groupId, userId, change: 'joined', at: now - 10 });
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(false);
    // A newer join (re-added) is applied.
    t.deliver(channels.userChannel(userId), { kind: 'membership', groupId, userId, change: 'joined', at: now + 10 });
    t.deliver(channels.groupChannel(groupId), t.groupMessage(groupId));
    expect(types(socket.events)).toEqual(['message.created']);
  });

  it('leaves a group the user’s groups no longer list when reconciling, and joins one they newly list', async () => {
    const t = setUp();
    service = t.realtime;
    const [oldGroup, newGroup, userId] = [newId(), newId(), newId()];
    await t.connect(userId, [oldGroup]);
    const run = t.realtime.reconcileMemberships();
    await t.flush();
    t.answerRead(userId, [newGroup]);
    await run;
    expect(t.refs.has(channels.groupChannel(oldGroup))).toBe(false);
    expect(t.refs.has(channels.groupChannel(newGroup))).toBe(true);
  });

  it('does not undo a change that arrived while the reconciliation read was in flight', async () => {
    const t = setUp();
    service = t.realtime;
    const [leftGroup, joinedGroup, userId] = [newId(), newId(), newId()];
    const socket = await t.connect(userId, [leftGroup]);
    const run = t.realtime.reconcileMemberships();
    await t.flush();
    // Meanwhile: removed from one group, added to another; the read began before both.
    const at = Date.now() + 1;
    t.deliver(channels.groupChannel(leftGroup), { kind: 'membership', groupId: leftGroup, userId, change: 'left', at });
    t.deliver(channels.userChannel(userId), { kind: 'membership', groupId: joinedGroup, userId, change: 'joined', at });
    t.answerRead(userId, [leftGroup]);
    await run;
    expect(t.refs.has(channels.groupChannel(leftGroup))).toBe(false);
    expect(t.refs.has(channels.groupChannel(joinedGroup))).toBe(true);
    t.deliver(channels.groupChannel(joinedGroup), t.groupMessage(joinedGroup));
    expect(types(socket.events)).toEqual(['message.created']);
  });

  it('does not re-join a group whose removal arrived while the initial group list was loading', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    const connection: RealtimeConnection = { id: newId(), userId, deliver: () => {} };
    const registered = t.realtime.register(connection);
    await t.flush();
    t.deliver(channels.userChannel(userId), {
      kind: 'membership',
      groupId,
      userId,
      change: 'left',
      at: Date.now() + 1,
    });
    t.answerRead(userId, [groupId]);
    await registered;
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(false);
  });

  it('reconciles every connected user when the subscriber reconnects', async () => {
    const t = setUp();
    service = t.realtime;
    const [a, b] = [newId(), newId()];
    await t.connect(a, []);
    await t.connect(b, []);
    t.reconnect();
    await t.flush();
    expect(t.reads.map((read) => read.userId).sort()).toEqual([a, b].sort());
    t.answerRead(a, []);
    t.answerRead(b, []);
  });
});

describe('message.status order', () => {
  const receiptEvent = (receipt: Receipt): BusEvent => ({ kind: 'receipt', receipt });

  it('drops a status older than the one already delivered and never sends a watermark backwards', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, reader, watcher] = [newId(), newId(), newId()];
    const socket = await t.connect(watcher, [groupId]);
    const [m1, m2, m3] = [newId(), newId(), newId()];
    const channel = channels.groupChannel(groupId);
    const base = { conversationId: groupId, userId: reader };
    t.deliver(channel, receiptEvent({ ...base, deliveredUpTo: m3, readUpTo: m1 }));
    // The other node's older read-back arrives late: dropped.
    t.deliver(channel, receiptEvent({ ...base, deliveredUpTo: m2, readUpTo: m1 }));
    // One watermark moves on, the other is behind: sent with the later of each.
    t.deliver(channel, receiptEvent({ ...base, deliveredUpTo: m2, readUpTo: m2 }));
    expect(socket.events).toEqual([
      { type: 'message.status', receipt: { ...base, deliveredUpTo: m3, readUpTo: m1 } },
      { type: 'message.status', receipt: { ...base, deliveredUpTo: m3, readUpTo: m2 } },
    ]);
  });
});

describe('presence snapshot', () => {
  it('sends no snapshot for a user whose change arrived while the state was being read', async () => {
    const t = setUp();
    service = t.realtime;
    const [watcher, watched] = [newId(), newId()];
    const socket = await t.connect(watcher, []);
    const watching = t.realtime.watchPresence(socket.connection, [watched]);
    await t.flush();
    t.deliver(channels.presenceChannel(watched), {
      kind: 'presence',
      presence: { userId: watched, status: 'offline', lastSeenAt: 1 },
    });
    // The read ran before that change: it still says online.
    t.presenceReads[0]?.resolve([{ userId: watched, status: 'online', lastSeenAt: null }]);
    await watching;
    expect(socket.events).toEqual([
      { type: 'presence', presence: { userId: watched, status: 'offline', lastSeenAt: 1 } },
    ]);
  });

  it('sends the snapshot when no change arrived meanwhile', async () => {
    const t = setUp();
    service = t.realtime;
    const [watcher, watched] = [newId(), newId()];
    const socket = await t.connect(watcher, []);
    const watching = t.realtime.watchPresence(socket.connection, [watched]);
    await t.flush();
    t.presenceReads[0]?.resolve([{ userId: watched, status: 'online', lastSeenAt: null }]);
    await watching;
    expect(socket.events).toEqual([
      { type: 'presence', presence: { userId: watched, status: 'online', lastSeenAt: null } },
    ]);
  });
});
