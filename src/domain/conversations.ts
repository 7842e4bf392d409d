import { isUlid } from './ids.js';

/**
 * Conversation ids. A group conversation's id is the group id. A one-to-one conversation's id is
 * derived from the two user ids, smaller first, so both sides compute the same id without a lookup
 * and the participants can be read off the id itself: `dm_<userA>_<userB>`.
 */
const DIRECT_PREFIX = 'dm_';

export type ConversationRef =
  | { kind: 'direct'; id: string; userIds: [string, string] }
  | { kind: 'group'; id: string; groupId: string };

export function directConversationId(userA: string, userB: string): string {
  const [first, second] = userA < userB ? [userA, userB] : [userB, userA];
  return `${DIRECT_PREFIX}${first}_${second}`;
}

/** Parses a conversation id; undefined when it is not one this service could have made. */
export function parseConversationId(id: string): ConversationRef | undefined {
  if (id.startsWith(DIRECT_PREFIX)) {
    const [first, second, ...rest] = id.slice(DIRECT_PREFIX.length).split('_');
    if (rest.length > 0 || !first || !second || !isUlid(first) || !isUlid(second) || first >= second) {
      return undefined;
    }
    return { kind: 'direct', id, userIds: [first, second] };
  }
  return isUlid(id) ? { kind: 'group', id, groupId: id } : undefined;
}

export const CONVERSATION_ID_PATTERN =
  /^(dm_[0-7][0-9A-HJKMNP-TV-Z]{25}_[0-7][0-9A-HJKMNP-TV-Z]{25}|[0-7][0-9A-HJKMNP-TV-Z]{25})$/;
