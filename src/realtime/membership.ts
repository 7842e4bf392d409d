import type { Logger } from '../logger.js';
import { type MembershipEvent, membershipChanged } from './events.js';
import type { ChannelOwner, Hub } from './hub.js';
import type { Publisher } from './publisher.js';

/** Users whose groups one reconciliation run reads at once. */
const RECONCILE_CONCURRENCY = 8;
/** A reconciliation run stops after this many failed reads (Cassandra is likely away); the next one retries. */
const RECONCILE_MAX_FAILURES = 5;

type Change = 'joined' | 'left';

interface LocalMember {
  /** Groups whose events this user gets (the hub holds their channels for them). */
  groups: Set<string>;
  /** Groups this node itself changed, with the sequence number of the change (newer than any read applied since). */
  changes: Map<string, number>;
  /** Groups a 'left' notice named, not yet confirmed by a read that began after it: no delivery meanwhile. */
  suspended: Map<string, number>;
  /** True once the initial group list is applied; reconciliation leaves the user alone until then. */
  loaded: boolean;
  /** Sequence number at which the newest read applied so far began (an older read's answer is stale). */
  appliedRead: number;
  /** The read of this user's groups in flight (one at a time; `again` asks for one more after it). */
  reading: Promise<number> | undefined;
  again: boolean;
}

/** Who belongs to which group, for the users connected to this node. */
export interface Membership {
  /** Loads a newly connected user's groups and holds their channels; resolves once those are live. */
  load(userId: string): Promise<void>;
  /** The user's last connection left: releases their group channels. */
  unload(userId: string): void;
  /** The groups whose channels this node holds for a connected user. */
  groupsOf(userId: string): ReadonlySet<string>;
  /**
   * Whether a group event may reach this local user. Last line of defence: whatever the
   * subscriptions say, a departure this node knows of stops delivery.
   */
  mayReceive(userId: string, groupId: string): boolean;
  /**
   * A change made on this node (the groups service's hook), then published. `written`: the
   * Cassandra write succeeded, so it is applied here at once; `uncertain`: the write failed or
   * timed out and may have landed, so this node re-reads like any other.
   */
  membershipChanged(groupId: string, userId: string, change: Change, outcome?: 'written' | 'uncertain'): Promise<void>;
  /** A change announced on a channel this node listens to: the user's groups are read again. */
  receive(owner: ChannelOwner, event: MembershipEvent): void;
  /** Runs a reconciliation now (of these users, or of everyone connected here). */
  reconcile(reason: string, userIds?: Iterable<string>): Promise<void>;
  start(): void;
  stop(): void;
}

/**
 * Membership for real time. Pub/sub is at most once (a publish can fail, a subscriber can be
 * reconnecting or cut off for a full output buffer), so four rules, each against a real loss:
 *
 * 1. A change is published on the user's channel *and* the group's: the user's node listens to
 *    both, so one lost publish does not leave a removed member reading the group.
 * 2. A notice is not the truth: a node that receives one re-reads the user's groups from
 *    Cassandra (groups_by_user, written in one batch with group_members). Ordering notices by
 *    the publishing node's clock (as before) let a node whose clock ran 5 s fast win with its
 *    older "joined" over a "left" made after it elsewhere: the removed member kept reading the
 *    group until reconciliation. A read started later wins over one started earlier, whatever
 *    order the answers come in; a 'left' notice stops delivery at once until such a read confirms.
 * 3. Every node re-reads its connected users' groups after each gap on their channels and every
 *    `reconcileMs` (jittered): a removal whose notices were both lost (Redis restarting during
 *    the DELETE) takes effect within one interval instead of never.
 * 4. This node's own written change applies at once, and a read that began before it does not
 *    undo it (the read may have been answered before the write).
 */
export function createMembership(deps: {
  hub: Hub;
  publisher: Publisher;
  groups: { listGroupIdsOfUser(userId: string): Promise<string[]> };
  logger: Logger;
  /** How often connected users' groups are re-read to correct missed membership changes. */
  reconcileMs: number;
  /**
   * A user already connected here joined a group, and its channel is now live: messages sent
   * to the group before that reached nobody here (and the client does not know the group yet).
   */
  onJoinedLive(userId: string, groupId: string): void;
}): Membership {
  const { hub, publisher, logger } = deps;
  const members = new Map<string, LocalMember>();
  let seq = 0;
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  /** Users asked for while a run was going ('all' for everyone): one more run follows. */
  let again: Set<string> | 'all' | undefined;

  const groupOwner = (groupId: string): ChannelOwner => ({ kind: 'group', id: groupId });

  function join(userId: string, member: LocalMember, groupId: string) {
    if (member.groups.has(groupId)) return;
    member.groups.add(groupId);
    // A failed SUBSCRIBE is retried by the bus, which reports the gap (resync) once it holds.
    const live = hub.hold(groupOwner(groupId), userId);
    if (!member.loaded) {
      live.catch(() => {}); // the initial load waits for it and tells `ready` or closes
      return;
    }
    live.then(
      () => {
        if (members.get(userId) === member && member.groups.has(groupId)) deps.onJoinedLive(userId, groupId);
      },
      () => {},
    );
  }

  function leave(userId: string, member: LocalMember, groupId: string) {
    if (!member.groups.delete(groupId)) return;
    hub.release(groupOwner(groupId), userId);
  }

  /**
   * Makes the user's groups those of a read that began at `readSeq`, unless a newer read already
   * applied, and except groups this node changed after the read began. Returns how many groups
   * it joined or left.
   */
  function applyList(userId: string, member: LocalMember, groupIds: string[], readSeq: number) {
    if (readSeq < member.appliedRead) return 0;
    member.appliedRead = readSeq;
    const listed = new Set(groupIds);
    const changedSince = (groupId: string) => (member.changes.get(groupId) ?? 0) > readSeq;
    let corrected = 0;
    for (const groupId of listed) {
      if (member.groups.has(groupId) || changedSince(groupId)) continue;
      join(userId, member, groupId);
      corrected++;
    }
    for (const groupId of [...member.groups]) {
      if (listed.has(groupId) || changedSince(groupId)) continue;
      leave(userId, member, groupId);
      corrected++;
    }
    for (const [groupId, at] of member.suspended) if (at < readSeq) member.suspended.delete(groupId);
    for (const [groupId, at] of member.changes) if (at < readSeq) member.changes.delete(groupId);
    return corrected;
  }

  /** Reads the user's groups again (one read at a time per user; asked during one, one more follows it). */
  function read(userId: string, member: LocalMember): Promise<number> {
    if (member.reading) {
      member.again = true;
      return member.reading;
    }
    const reading = (async () => {
      let corrected = 0;
      do {
        member.again = false;
        const readSeq = ++seq;
        const groupIds = await deps.groups.listGroupIdsOfUser(userId);
        if (members.get(userId) !== member) return corrected; // everyone left while reading
        corrected += applyList(userId, member, groupIds, readSeq);
      } while (member.again);
      return corrected;
    })().finally(() => {
      member.reading = undefined;
    });
    member.reading = reading;
    return reading;
  }

  /** Re-reads one connected user's groups; resolves how many subscriptions it corrected. */
  async function reconcileUser(userId: string): Promise<number> {
    const member = members.get(userId);
    if (!member?.loaded) return 0;
    return read(userId, member);
  }

  /** A notice or an uncertain change: re-read the user's groups (a 'left' stops delivery until then). */
  function reread(userId: string, groupId: string, change: Change) {
    const member = members.get(userId);
    if (!member) return;
    if (change === 'left' && member.groups.has(groupId)) member.suspended.set(groupId, ++seq);
    read(userId, member).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not re-read a user’s groups after a membership notice; reconciliation will');
    });
  }

  async function reconcileAll(reason: string, only: Set<string> | 'all') {
    const userIds = only === 'all' ? [...members.keys()] : [...only].filter((id) => members.has(id));
    let next = 0;
    let corrected = 0;
    let failures = 0;
    let lastError: unknown;
    async function worker() {
      while (next < userIds.length && failures < RECONCILE_MAX_FAILURES) {
        const userId = userIds[next++] as string;
        try {
          corrected += await reconcileUser(userId);
        } catch (error) {
          failures++;
          lastError = error;
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, userIds.length) }, worker));
    if (failures > 0) {
      logger.warn({ err: lastError, failures, reason }, 'membership reconciliation could not read some users’ groups');
    }
    if (corrected > 0) {
      logger.info(
        { corrected, users: userIds.length, reason },
        'membership reconciliation corrected group subscriptions',
      );
    }
  }

  /** One run at a time; a request during a run starts another right after it. */
  function reconcile(reason: string, userIds?: Iterable<string>): Promise<void> {
    const wanted: Set<string> | 'all' = userIds ? new Set(userIds) : 'all';
    if (running) {
      if (wanted === 'all' || again === 'all') again = 'all';
      else again = new Set([...(again ?? []), ...wanted]);
      return running;
    }
    running = reconcileAll(reason, wanted).finally(() => {
      running = undefined;
      const next = again;
      again = undefined;
      if (next && started) void reconcile('requested during a run', next === 'all' ? undefined : next);
    });
    return running;
  }

  function schedule() {
    // Jittered so the nodes of a fleet do not read Cassandra in lockstep.
    const delay = Math.round(deps.reconcileMs * (0.75 + Math.random() * 0.5));
    timer = setTimeout(() => {
      void reconcile('periodic').finally(() => {
        if (started) schedule();
      });
    }, delay);
    timer.unref();
  }

  return {
    async load(userId) {
      const member: LocalMember = {
        groups: new Set(),
        changes: new Map(),
        suspended: new Map(),
        loaded: false,
        appliedRead: 0,
        reading: undefined,
        again: false,
      };
      members.set(userId, member);
      await read(userId, member);
      if (members.get(userId) !== member) return; // everyone left while loading
      member.loaded = true;
      await Promise.all([...member.groups].map((groupId) => hub.ready(groupOwner(groupId))));
    },

    unload(userId) {
      const member = members.get(userId);
      if (!member) return;
      members.delete(userId);
      for (const groupId of member.groups) hub.release(groupOwner(groupId), userId);
    },

    groupsOf: (userId) => members.get(userId)?.groups ?? new Set(),

    mayReceive(userId, groupId) {
      const member = members.get(userId);
      return (member?.groups.has(groupId) ?? false) && !member?.suspended.has(groupId);
    },

    async membershipChanged(groupId, userId, change, outcome = 'written') {
      const member = members.get(userId);
      if (member && outcome === 'written') {
        // This node follows at once (rule 4); the user's node learns it from either channel (rule 1).
        member.changes.set(groupId, ++seq);
        member.suspended.delete(groupId);
        if (change === 'joined') join(userId, member, groupId);
        else leave(userId, member, groupId);
      } else if (member) {
        reread(userId, groupId, change);
      }
      // `at` only for nodes of the previous release, which order by it; nodes of this one re-read.
      const event = membershipChanged(groupId, userId, change, Date.now());
      await Promise.all([
        publisher.publish(hub.channelOf({ kind: 'user', id: userId }), event, { retry: true }),
        publisher.publish(hub.channelOf(groupOwner(groupId)), event, { retry: true }),
      ]);
    },

    receive(owner, event) {
      const { groupId, userId, change } = event.data;
      // A user channel speaks only for its user, a group channel only for its group.
      if (owner.kind === 'user' && userId !== owner.id) return;
      if (owner.kind === 'group' && groupId !== owner.id) return;
      if (owner.kind === 'presence') return;
      reread(userId, groupId, change);
    },

    reconcile,

    start() {
      if (started) return;
      started = true;
      schedule();
    },

    stop() {
      started = false;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
