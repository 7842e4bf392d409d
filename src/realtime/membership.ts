import type { Logger } from '../logger.js';
import type { Bus } from './bus.js';
import { type MembershipEvent, membershipChanged } from './events.js';
import type { ChannelOwner, Hub } from './hub.js';

/** Pauses between the attempts to publish a membership change (so three attempts in all). */
const RETRY_DELAYS_MS = [50, 200];
/** Users whose groups one reconciliation run reads at once. */
const RECONCILE_CONCURRENCY = 8;
/** A reconciliation run stops after this many failed reads (Cassandra is likely away); the next one retries. */
const RECONCILE_MAX_FAILURES = 5;
/** How long a membership change is remembered, to ignore late duplicates of older ones (retried publishes). */
const CHANGE_MEMORY_MS = 60_000;

type Change = 'joined' | 'left';

interface KnownChange {
  change: Change;
  /** Epoch ms of the change: the publishing node's clock for events, the read's start for reconciliations. */
  at: number;
  /** The order in which this node learned it; a read applies only to groups not changed since it began. */
  seq: number;
}

interface LocalMember {
  /** Groups whose events this user gets (the hub holds their channels for them). */
  groups: Set<string>;
  /** The latest membership change this node knows of, per group (recent ones; 'left' also stops delivery). */
  changes: Map<string, KnownChange>;
  /** True once the initial group list is applied; reconciliation leaves the user alone until then. */
  loaded: boolean;
}

/** Who belongs to which group, for the users connected to this node. */
export interface Membership {
  /** Loads a newly connected user's groups and holds their channels; resolves once those are live. */
  load(userId: string): Promise<void>;
  /** The user's last connection left: releases their group channels. */
  unload(userId: string): void;
  /**
   * Whether a group event may reach this local user. Last line of defence: whatever the
   * subscriptions say, a departure this node knows of stops delivery.
   */
  mayReceive(userId: string, groupId: string): boolean;
  /** A change made on this node (the groups service's hook): applied here at once, then published. */
  membershipChanged(groupId: string, userId: string, change: Change): Promise<void>;
  /** A change announced on a channel this node listens to. */
  receive(owner: ChannelOwner, event: MembershipEvent): void;
  /** Runs a reconciliation now (as the timer and a subscriber reconnect do). */
  reconcile(reason: string): Promise<void>;
  start(): void;
  stop(): void;
}

/**
 * Membership for real time. Pub/sub is at most once (a publish can fail, a subscriber can be
 * reconnecting or cut off for a full output buffer), so three rules, each against a real loss:
 *
 * 1. A change is published on the user's channel *and* the group's: the user's node listens to
 *    both, so one lost publish does not leave a removed member reading the group.
 * 2. Every node re-reads its connected users' groups after each subscriber reconnect and every
 *    `reconcileMs` (jittered): a removal whose notices were both lost (Redis restarting during
 *    the DELETE) takes effect within one interval instead of never.
 * 3. Changes are ordered by when they were made, and a read applies only to groups no change
 *    touched since the read began: otherwise a retried "joined" arriving after the "left", or a
 *    reconciliation read that started before a removal and finished after it, re-adds the member.
 */
export function createMembership(deps: {
  hub: Hub;
  bus: Pick<Bus, 'publish'>;
  groups: { listGroupIdsOfUser(userId: string): Promise<string[]> };
  logger: Logger;
  /** How often connected users' groups are re-read to correct missed membership changes. */
  reconcileMs: number;
}): Membership {
  const { hub, bus, logger } = deps;
  const members = new Map<string, LocalMember>();
  let changeSeq = 0;
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const groupOwner = (groupId: string): ChannelOwner => ({ kind: 'group', id: groupId });

  function join(userId: string, member: LocalMember, groupId: string) {
    if (member.groups.has(groupId)) return;
    member.groups.add(groupId);
    void hub.hold(groupOwner(groupId), userId);
  }

  function leave(userId: string, member: LocalMember, groupId: string) {
    if (!member.groups.delete(groupId)) return;
    hub.release(groupOwner(groupId), userId);
  }

  /** A change from an event (this node's own, or from either channel); older news is ignored. */
  function apply(userId: string, groupId: string, change: Change, at: number) {
    const member = members.get(userId);
    if (!member) return;
    const known = member.changes.get(groupId);
    if (known && known.at > at) return;
    member.changes.set(groupId, { change, at, seq: ++changeSeq });
    if (change === 'joined') join(userId, member, groupId);
    else leave(userId, member, groupId);
  }

  /**
   * Makes the user's groups those of a fresh read (started at `readAt`, when `changeSeq` was
   * `readSeq`), except groups whose change arrived after the read began: that news is newer
   * than, or as new as, what the read saw. Returns how many groups it joined or left.
   */
  function applyList(userId: string, member: LocalMember, groupIds: string[], readSeq: number, readAt: number) {
    const listed = new Set(groupIds);
    const changedSince = (groupId: string) => (member.changes.get(groupId)?.seq ?? 0) > readSeq;
    let corrected = 0;
    for (const groupId of listed) {
      if (member.groups.has(groupId) || changedSince(groupId)) continue;
      member.changes.set(groupId, { change: 'joined', at: readAt, seq: ++changeSeq });
      join(userId, member, groupId);
      corrected++;
    }
    for (const groupId of [...member.groups]) {
      if (listed.has(groupId) || changedSince(groupId)) continue;
      member.changes.set(groupId, { change: 'left', at: readAt, seq: ++changeSeq });
      leave(userId, member, groupId);
      corrected++;
    }
    for (const [groupId, known] of member.changes) {
      if (known.at < readAt - CHANGE_MEMORY_MS) member.changes.delete(groupId);
    }
    return corrected;
  }

  /** Re-reads one connected user's groups; resolves how many subscriptions it corrected. */
  async function reconcileUser(userId: string): Promise<number> {
    const member = members.get(userId);
    if (!member?.loaded) return 0;
    const readSeq = changeSeq;
    const readAt = Date.now();
    const groupIds = await deps.groups.listGroupIdsOfUser(userId);
    if (members.get(userId) !== member) return 0;
    return applyList(userId, member, groupIds, readSeq, readAt);
  }

  async function reconcileAll(reason: string) {
    const userIds = [...members.keys()];
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
  function reconcile(reason: string): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = reconcileAll(reason).finally(() => {
      running = undefined;
      if (again && started) {
        again = false;
        void reconcile('requested during a run');
      }
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

  /** Publishes with a few retries: a lost membership change would otherwise wait for reconciliation. */
  async function publishWithRetries(channel: ChannelOwner, event: MembershipEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await bus.publish(hub.channelOf(channel), event);
        return;
      } catch (error) {
        const pause = RETRY_DELAYS_MS[attempt];
        if (pause === undefined) {
          logger.warn(
            { err: error, kind: event.type, attempts: attempt + 1 },
            'real-time publish failed; membership reconciliation will correct subscriptions',
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  return {
    async load(userId) {
      const member: LocalMember = { groups: new Set(), changes: new Map(), loaded: false };
      members.set(userId, member);
      const readSeq = changeSeq;
      const readAt = Date.now();
      const groupIds = await deps.groups.listGroupIdsOfUser(userId);
      if (members.get(userId) !== member) return; // everyone left while loading
      applyList(userId, member, groupIds, readSeq, readAt);
      member.loaded = true;
      await Promise.all([...member.groups].map((groupId) => hub.ready(groupOwner(groupId))));
    },

    unload(userId) {
      const member = members.get(userId);
      if (!member) return;
      members.delete(userId);
      for (const groupId of member.groups) hub.release(groupOwner(groupId), userId);
    },

    mayReceive(userId, groupId) {
      const member = members.get(userId);
      return (member?.groups.has(groupId) ?? false) && member?.changes.get(groupId)?.change !== 'left';
    },

    async membershipChanged(groupId, userId, change) {
      const at = Date.now();
      // This node follows at once; the user's node learns it from either channel (rule 1).
      apply(userId, groupId, change, at);
      const event = membershipChanged(groupId, userId, change, at);
      await Promise.all([
        publishWithRetries({ kind: 'user', id: userId }, event),
        publishWithRetries(groupOwner(groupId), event),
      ]);
    },

    receive(owner, event) {
      const { groupId, userId, change, at } = event.data;
      // A user channel speaks only for its user, a group channel only for its group.
      if (owner.kind === 'user' && userId !== owner.id) return;
      if (owner.kind === 'group' && groupId !== owner.id) return;
      if (owner.kind === 'presence') return;
      apply(userId, groupId, change, at);
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
