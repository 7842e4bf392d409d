import type { Message, Receipt } from '../client/index.js';

type Reaction = Message['reactions'][number];

/**
 * Pure helpers over the console's view model: merging messages by id, applying reaction frames,
 * and the ticks of a message. No I/O, no DOM.
 */

/** Merges `incoming` into `list` by id, oldest first (ULIDs sort as text in time order). */
export function mergeMessages(list: readonly Message[], incoming: readonly Message[]): Message[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const message of incoming) byId.set(message.id, keepMine(byId.get(message.id), message));
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * A deletion is final (a late `message.updated` must not bring the text back), and frames carry
 * `me: false` on every reaction (one publish for all members), so the `me` flags we already know
 * are kept.
 */
function keepMine(old: Message | undefined, next: Message): Message {
  if (!old) return next;
  if (old.deletedAt && !next.deletedAt) return old;
  const mine = new Set(old.reactions.filter((r) => r.me).map((r) => r.emoji));
  return { ...next, reactions: next.reactions.map((r) => (mine.has(r.emoji) && !r.me ? { ...r, me: true } : r)) };
}

/** What a `reaction.updated` frame carries. */
export interface ReactionChange {
  messageId: string;
  emoji: string;
  count: number;
  userId: string;
  added: boolean;
}

export function applyReaction(message: Message, change: ReactionChange, myId: string | undefined): Message {
  if (message.deletedAt) return message;
  const existing = message.reactions.find((r) => r.emoji === change.emoji);
  const me = change.userId === myId ? change.added : (existing?.me ?? false);
  const next: Reaction = { emoji: change.emoji, count: change.count, me };
  const reactions = existing
    ? message.reactions.map((r) => (r.emoji === change.emoji ? next : r))
    : [...message.reactions, next];
  return { ...message, reactions: reactions.filter((r) => r.count > 0) };
}

export type Tick = Message['status'];
const RANK: Record<Tick, number> = { sent: 0, delivered: 1, read: 2 };

/**
 * The ticks of a message you sent, by the server's rule (src/domain/status.ts): read when every
 * other participant read up to it, delivered when every other has it, else sent. `receipts` are
 * the others' watermarks as last heard (REST, then message.status frames); the status the message
 * came with is the floor, so a receipt not yet heard never takes a tick back.
 */
export function ticksOf(
  message: Message,
  receipts: ReadonlyMap<string, Receipt>,
  participants: readonly string[],
): Tick {
  const others = participants.filter((id) => id !== message.senderId);
  let derived: Tick = 'sent';
  if (others.length > 0) {
    const state = (id: string): Tick => {
      const r = receipts.get(id);
      if (r?.readUpTo && r.readUpTo >= message.id) return 'read';
      if (r?.deliveredUpTo && r.deliveredUpTo >= message.id) return 'delivered';
      return 'sent';
    };
    derived = others.map(state).reduce((low, t) => (RANK[t] < RANK[low] ? t : low), 'read' as Tick);
  }
  return RANK[derived] > RANK[message.status] ? derived : message.status;
}

/** The one-to-one conversation id of two users (the smaller id first), as the server names it. */
export const directConversationId = (a: string, b: string) => (a < b ? `dm_${a}_${b}` : `dm_${b}_${a}`);
