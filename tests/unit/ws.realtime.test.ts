import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceRecord } from '../../src/api-shapes/presence.js';
import { newId } from '../../src/domain/ids.js';
import type { Receipt } from '../../src/domain/types.js';
import type { BusHandler } from '../../src/realtime/bus.js';
import {
  type ClientEvent,
  messageCreated,
  messageStatus,
  presenceChanged,
  type RealtimeEvent,
} from '../../src/realtime/events.js';
import {
  type Bus,
  createRealtime,
  type MessageSenders,
  type Realtime,
  type RealtimeConnection,
} from '../../src/realtime/index.js';

/**
 * The real-time layer's own rules, driven without Redis or Cassandra: a bus that records what
 * is published and lets the test deliver events, a group list the test answers by hand.
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

function setUp(options: { senders?: MessageSenders } = {}) {
  /** Channels the node is subscribed to on the bus. */
  const refs = new Set<string>();
  const published: Array<{ channel: string; event: RealtimeEvent }> = [];
  let failures = 0;
  /** Channels whose SUBSCRIBE the fake refuses (Redis away for them). */
  const refused = new Set<string>();
  let handler: BusHandler = () => {};
  let gapHandler: (channels: string[], reason: string) => void = () => {};
  const bus: Bus = {
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
      refs.add(channel);
      if (refused.has(channel)) throw new Error('Connection is closed.');
    },
    unsubscribe(channel) {
      refs.delete(channel);
    },
    onEvent(next) {
      handler = next;
    },
    onPossibleGap(next) {
      gapHandler = next;
    },
    publishCommand: 'publish',
    async close() {},
  };
  /** Group-list reads waiting for the test to answer, oldest first. */
  const reads: Array<{ userId: string; answer: Deferred<string[]> }> = [];
  const presenceReads: Array<Deferred<PresenceRecord[]>> = [];
  const realtime = createRealtime({
    bus,
    presence: {
      touch: async () => false,
      remove: async () => false,
      sweep: async () => ({ scanned: 0 }),
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
    senders: options.senders ?? { between: async () => [] },
    channels,
    logger: pino({ level: 'silent' }),
    refreshMs: 60_000,
    reconcileMs: 3_600_000,
  });
  realtime.start();

  const flush = () => new Promise((resolve) => setImmediate(resolve));

  /** A connected user, set up with the given groups. */
  async function connect(userId: string, groupIds: string[]) {
    const events: ClientEvent[] = [];
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

  /** Delivers an event as if it came from another node (only on channels this node listens to). */
  function deliver(channel: string, event: RealtimeEvent) {
    if (refs.has(channel)) handler(channel, event, 'other');
  }

  const membership = (groupId: string, userId: string, change: 'joined' | 'left', at: number): RealtimeEvent => ({
    type: 'membership',
    data: { groupId, userId, change, at },
  });

  const groupMessage = (groupId: string) =>
    messageCreated({
      id: newId(),
      conversationId: groupId,
      senderId: newId(),
      receiverId: null,
      groupId,
      content: 'hi',
      createdAt: Date.now(),
      clientTimestamp: null,
      status: 'sent',
    });

  return {
    realtime,
    published,
    refs,
    reads,
    presenceReads,
    connect,
    answerRead,
    deliver,
    membership,
    groupMessage,
    flush,
    failNextPublishes(count: number) {
      failures = count;
    },
    refused,
    /** The bus reports these channels live again after a possible gap. */
    gap: (gapChannels: string[], reason = 'reconnect') => gapHandler(gapChannels, reason),
  };
}

const types = (events: ClientEvent[]) => events.map((event) => event.type);

async function eventually(check: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let service: Realtime | undefined;
afterEach(() => service?.stop());

describe('membership changes', () => {
  it('retries a failed membership publish and announces it on the user’s and the group’s channel', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    t.failNextPublishes(3);
    await t.realtime.membershipChanged(groupId, userId, 'left');
    // The first attempts failed; the retries (100 ms, then 400 ms later) land in the background.
    await eventually(() => t.published.length === 2);
    expect(t.published.map((entry) => entry.channel).sort()).toEqual(
      [channels.groupChannel(groupId), channels.userChannel(userId)].sort(),
    );
    for (const entry of t.published) {
      expect(entry.event).toMatchObject({ type: 'membership', data: { groupId, userId, change: 'left' } });
    }
  });

  it('stops delivering a group’s events to a user whose removal arrives on the group’s channel', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, gone, stays] = [newId(), newId(), newId()];
    const goneSocket = await t.connect(gone, [groupId]);
    const staysSocket = await t.connect(stays, [groupId]);
    t.deliver(channels.groupChannel(groupId), t.membership(groupId, gone, 'left', Date.now()));
    t.deliver(channels.groupChannel(groupId), t.groupMessage(groupId));
    expect(types(goneSocket.events)).toEqual([]);
    expect(types(staysSocket.events)).toEqual(['message.created']);
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(true);
    // The notice made the node read the user's groups again; that read decides.
    t.answerRead(gone, []);
    await t.flush();
    expect(t.reads).toEqual([]);
  });

  it('follows what Cassandra says, not the notices’ clocks: a "joined" stamped before a "left" still re-adds a re-added member', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    const socket = await t.connect(userId, [groupId]);
    // The removal came from a node whose clock runs 10 s fast, the re-add from one 10 s slow.
    t.deliver(channels.userChannel(userId), t.membership(groupId, userId, 'left', Date.now() + 10_000));
    t.deliver(channels.userChannel(userId), t.membership(groupId, userId, 'joined', Date.now() - 10_000));
    // The first re-read answers while the user was out; the one after the second notice, back in.
    t.answerRead(userId, []);
    await t.flush();
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(false);
    t.answerRead(userId, [groupId]);
    await t.flush();
    t.deliver(channels.groupChannel(groupId), t.groupMessage(groupId));
    expect(types(socket.events)).toEqual(['resync', 'message.created']);
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

  it('does not undo its own change with a reconciliation read that began before it', async () => {
    const t = setUp();
    service = t.realtime;
    const [leftGroup, userId] = [newId(), newId()];
    const socket = await t.connect(userId, [leftGroup]);
    const run = t.realtime.reconcileMemberships();
    await t.flush();
    // Meanwhile this node removes the user (written in Cassandra); the read was answered before.
    await t.realtime.membershipChanged(leftGroup, userId, 'left', 'written');
    t.answerRead(userId, [leftGroup]);
    await run;
    expect(t.refs.has(channels.groupChannel(leftGroup))).toBe(false);
    t.deliver(channels.groupChannel(leftGroup), t.groupMessage(leftGroup));
    expect(types(socket.events)).toEqual([]);
  });

  it('re-reads instead of applying its own change when the write may not have landed', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    const socket = await t.connect(userId, []);
    await t.realtime.membershipChanged(groupId, userId, 'joined', 'uncertain');
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(false);
    // It landed: the read lists the group, the channel is held, and the client is told to catch up.
    t.answerRead(userId, [groupId]);
    await t.flush();
    await t.flush();
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(true);
    expect(types(socket.events)).toEqual(['resync']);
  });

  it('does not re-join a group whose removal arrived while the initial group list was loading', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, userId] = [newId(), newId()];
    const connection: RealtimeConnection = { id: newId(), userId, deliver: () => {} };
    const registered = t.realtime.register(connection);
    await t.flush();
    t.deliver(channels.userChannel(userId), t.membership(groupId, userId, 'left', Date.now()));
    // The first read was answered before the removal; the notice asks for one more.
    t.answerRead(userId, [groupId]);
    await t.flush();
    t.answerRead(userId, []);
    await registered;
    expect(t.refs.has(channels.groupChannel(groupId))).toBe(false);
  });
});

describe('gaps', () => {
  it('tells only the connections holding the channels that had a gap to resync, and re-reads their users’ groups', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, a, b, c] = [newId(), newId(), newId(), newId()];
    const aSocket = await t.connect(a, []);
    const bSocket = await t.connect(b, [groupId]);
    const cSocket = await t.connect(c, []);
    t.gap([channels.userChannel(a), channels.groupChannel(groupId)]);
    expect(aSocket.events).toEqual([{ type: 'resync', data: { reason: 'reconnect' } }]);
    expect(bSocket.events).toEqual([{ type: 'resync', data: { reason: 'reconnect' } }]);
    expect(cSocket.events).toEqual([]);
    await t.flush();
    expect(t.reads.map((read) => read.userId).sort()).toEqual([a, b].sort());
    t.answerRead(a, []);
    t.answerRead(b, [groupId]);
  });

  it('hands a resync notice published on a group channel to each local member once', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, a, b] = [newId(), newId(), newId()];
    const aSocket = await t.connect(a, [groupId]);
    const bSocket = await t.connect(b, [groupId]);
    t.deliver(channels.groupChannel(groupId), { type: 'resync', data: { reason: 'publish failed' } });
    expect(types(aSocket.events)).toEqual(['resync']);
    expect(types(bSocket.events)).toEqual(['resync']);
  });

  it('refuses to register a connection whose channels cannot be subscribed (no ready that lies)', async () => {
    const t = setUp();
    service = t.realtime;
    const userId = newId();
    t.refused.add(channels.userChannel(userId));
    const connection: RealtimeConnection = { id: newId(), userId, deliver: () => {} };
    const registered = t.realtime.register(connection);
    await t.flush();
    t.answerRead(userId, []);
    await expect(registered).rejects.toThrow('Connection is closed.');
  });

  it('refuses a second connection of a user while their channel is down, though the first was set up', async () => {
    const t = setUp();
    service = t.realtime;
    const userId = newId();
    await t.connect(userId, []);
    t.refused.add(channels.userChannel(userId));
    const second: RealtimeConnection = { id: newId(), userId, deliver: () => {} };
    await expect(t.realtime.register(second)).rejects.toThrow('Connection is closed.');
  });

  it('tells nobody anything in a quiet run', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, a, b] = [newId(), newId(), newId()];
    const aSocket = await t.connect(a, [groupId]);
    const bSocket = await t.connect(b, [groupId]);
    t.deliver(channels.groupChannel(groupId), t.groupMessage(groupId));
    await t.flush();
    expect(types(aSocket.events)).toEqual(['message.created']);
    expect(types(bSocket.events)).toEqual(['message.created']);
  });
});

describe('message.status order', () => {
  it('drops a status older than the one already delivered and never sends a watermark backwards', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, reader, watcher] = [newId(), newId(), newId()];
    const socket = await t.connect(watcher, [groupId]);
    const [m1, m2, m3] = [newId(), newId(), newId()];
    // Group receipts travel on the channels of the users who need them.
    const channel = channels.userChannel(watcher);
    const base = { conversationId: groupId, userId: reader };
    t.deliver(channel, messageStatus({ ...base, deliveredUpTo: m3, readUpTo: m1 }));
    // The other node's older read-back arrives late: dropped.
    t.deliver(channel, messageStatus({ ...base, deliveredUpTo: m2, readUpTo: m1 }));
    // One watermark moves on, the other is behind: sent with the later of each.
    t.deliver(channel, messageStatus({ ...base, deliveredUpTo: m2, readUpTo: m2 }));
    expect(socket.events).toEqual([
      { type: 'message.status', data: { ...base, deliveredUpTo: m3, readUpTo: m1 } },
      { type: 'message.status', data: { ...base, deliveredUpTo: m3, readUpTo: m2 } },
    ]);
  });

  it('does not hand a group receipt to a user this node knows left the group', async () => {
    const t = setUp();
    service = t.realtime;
    const [groupId, reader, gone] = [newId(), newId(), newId()];
    const socket = await t.connect(gone, [groupId]);
    t.deliver(channels.groupChannel(groupId), t.membership(groupId, gone, 'left', Date.now()));
    t.deliver(
      channels.userChannel(gone),
      messageStatus({ conversationId: groupId, userId: reader, deliveredUpTo: newId(), readUpTo: null }),
    );
    expect(socket.events).toEqual([]);
  });
});

describe('group receipt addressing', () => {
  const receipt = (conversationId: string, userId: string, deliveredUpTo: string | null, readUpTo: string | null) =>
    ({ conversationId, userId, deliveredUpTo, readUpTo }) satisfies Receipt;

  it('publishes a group read once per sender of the messages it covers and once for the reader, never on the group channel', async () => {
    const [groupId, reader, alice, bob, carol] = [newId(), newId(), newId(), newId(), newId()];
    const [m1, m2, m3, m4] = [newId(), newId(), newId(), newId()];
    const asked: Array<[string | null, string]> = [];
    const t = setUp({
      senders: {
        async between(_conversationId, afterId, upToId) {
          asked.push([afterId, upToId]);
          // Newest first: m4 by the reader, m3 and m2 by alice, m1 (already read) by carol.
          return [
            { id: m4, senderId: reader },
            { id: m3, senderId: alice },
            { id: m2, senderId: alice },
          ].filter((message) => (afterId === null || message.id > afterId) && message.id <= upToId);
        },
      },
    });
    service = t.realtime;
    await t.realtime.receiptUpdated(
      { before: receipt(groupId, reader, m1, m1), after: receipt(groupId, reader, m4, m4) },
      [],
    );
    expect(asked).toEqual([[m1, m4]]);
    expect(t.published.map((entry) => entry.channel).sort()).toEqual(
      [channels.userChannel(alice), channels.userChannel(reader)].sort(),
    );
    expect(t.published.map((entry) => entry.channel)).not.toContain(channels.userChannel(bob));
    expect(t.published.map((entry) => entry.channel)).not.toContain(channels.userChannel(carol));
    for (const entry of t.published) {
      expect(entry.event).toEqual({ type: 'message.status', data: receipt(groupId, reader, m4, m4) });
    }
  });

  it('publishes nothing for a group receipt that moved no watermark', async () => {
    const [groupId, reader, m1] = [newId(), newId(), newId()];
    const t = setUp({ senders: { between: async () => [{ id: m1, senderId: newId() }] } });
    service = t.realtime;
    const same = receipt(groupId, reader, m1, null);
    await t.realtime.receiptUpdated({ before: same, after: same }, []);
    expect(t.published).toEqual([]);
  });

  it('still tells the reader’s own devices when the senders cannot be read', async () => {
    const [groupId, reader, m1] = [newId(), newId(), newId()];
    const t = setUp({
      senders: {
        between: async () => {
          throw new Error('NoHostAvailableError');
        },
      },
    });
    service = t.realtime;
    await t.realtime.receiptUpdated({ before: undefined, after: receipt(groupId, reader, m1, null) }, []);
    expect(t.published.map((entry) => entry.channel)).toEqual([channels.userChannel(reader)]);
  });

  it('publishes a one-to-one receipt on the other participant’s channel only, as before', async () => {
    const [a, b, m1] = [newId(), newId(), newId()];
    const [first, second] = a < b ? [a, b] : [b, a];
    const conversationId = `dm_${first}_${second}`;
    const t = setUp();
    service = t.realtime;
    await t.realtime.receiptUpdated({ before: undefined, after: receipt(conversationId, a, m1, null) }, [a, b]);
    expect(t.published.map((entry) => entry.channel)).toEqual([channels.userChannel(b)]);
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
    t.deliver(
      channels.presenceChannel(watched),
      presenceChanged({ userId: watched, status: 'offline', lastSeenAt: 1 }),
    );
    // The read ran before that change: it still says online.
    t.presenceReads[0]?.resolve([{ userId: watched, status: 'online', lastSeenAt: null }]);
    await watching;
    expect(socket.events).toEqual([
      { type: 'presence', data: { userId: watched, status: 'offline', lastSeenAt: new Date(1).toISOString() } },
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
      { type: 'presence', data: { userId: watched, status: 'online', lastSeenAt: null } },
    ]);
  });
});
