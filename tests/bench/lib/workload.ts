import type { Rng } from './prng.js';
import type { BenchContext, Profile } from './scenario.js';
import {
  createGroups,
  directConversation,
  messageContent,
  type SeedConversation,
  type SeedUser,
  seedUsers,
} from './seed.js';

/**
 * The messaging workload send, raw insert and history share: users, one-to-one pairs and groups
 * (created through the API), and a seeded plan of who sends what where.
 */
export interface Workload {
  users: SeedUser[];
  direct: SeedConversation[];
  groups: SeedConversation[];
  userById: Map<string, SeedUser>;
}

export async function createWorkload(ctx: BenchContext, sizes: Profile['workload'], rng: Rng): Promise<Workload> {
  const users = await seedUsers(ctx.client, sizes.users, 'w');
  const direct = Array.from({ length: sizes.directPairs }, (_, i) =>
    directConversation(users[(2 * i) % users.length] as SeedUser, users[(2 * i + 1) % users.length] as SeedUser),
  );
  const groups = await createGroups(
    ctx.http,
    Array.from({ length: sizes.groups }, () => sample(users, sizes.groupSize, rng)),
  );
  return { users, direct, groups, userById: new Map(users.map((user) => [user.id, user])) };
}

/** Picks `count` distinct elements (partial Fisher–Yates on a copy). */
export function sample<T>(items: readonly T[], count: number, rng: Rng): T[] {
  const copy = [...items];
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, n);
}

/** One planned send: who, into which conversation, with which body. */
export interface SendSpec {
  conversation: SeedConversation;
  sender: SeedUser;
  receiverId: string | null;
  groupId: string | null;
  body: ({ receiverId: string } | { groupId: string }) & { content: string; clientMessageId?: string };
}

/** `count` sends, half one-to-one and half into groups, senders drawn from each conversation. */
export function sendPlan(workload: Workload, count: number, rng: Rng, tag = 'send'): SendSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const conversation = rng.next() < 0.5 ? rng.pick(workload.direct) : rng.pick(workload.groups);
    const sender = workload.userById.get(rng.pick(conversation.memberIds)) as SeedUser;
    const content = messageContent(`${tag} ${i}`);
    if (conversation.kind === 'group') {
      return {
        conversation,
        sender,
        receiverId: null,
        groupId: conversation.id,
        body: { groupId: conversation.id, content },
      };
    }
    const receiverId = conversation.memberIds.find((id) => id !== sender.id) as string;
    return { conversation, sender, receiverId, groupId: null, body: { receiverId, content } };
  });
}
