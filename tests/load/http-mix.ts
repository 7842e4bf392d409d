/**
 * HTTP send/read mix, the k6 twin of the Node harness's send and history scenarios:
 * one-to-one and group sends (half each), first-page reads (warm: Redis) and deep-page reads with a
 * `before` cursor (cold: Cassandra), each at a ramping arrival rate with the targets as
 * thresholds.
 *
 *   k6 run -e BASE_URL=http://localhost:3000 tests/load/http-mix.ts
 *   k6 run -e BASE_URLS=http://localhost:3000,http://localhost:3001 -e SEND_RATE=300 tests/load/http-mix.ts
 *
 * Rate limits: start the API nodes with RATE_LIMIT_ENABLED=false (docs/security.md). Set-up registers
 * hundreds of users and every virtual user comes from one address, which REGISTER_IP_LIMIT and
 * REST_IP_LIMIT would refuse with 429; these scripts measure capacity, not the limits.
 */

import { fail } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import {
  BASE_URL,
  type Conversation,
  createGroup,
  createRng,
  DEEP_FROM,
  directConversationId,
  envInt,
  messageContent,
  nodeUrl,
  PAGE_LIMIT,
  readHistory,
  registerUsers,
  SEED,
  sendMessage,
  type User,
} from './lib.ts';

const USERS = envInt('USERS', 100);
const GROUPS = envInt('GROUPS', 10);
const GROUP_SIZE = envInt('GROUP_SIZE', 10);
const HISTORY_CONVERSATIONS = envInt('HISTORY_CONVERSATIONS', 20);
const HISTORY_DEPTH = Math.max(envInt('HISTORY_DEPTH', 200), DEEP_FROM + PAGE_LIMIT + 2);
const SEND_RATE = envInt('SEND_RATE', 200);
const READ_RATE = envInt('READ_RATE', 400);
const RAMP = __ENV.RAMP || '30s';
const HOLD = __ENV.HOLD || '1m';

const ramp = (exec: string, rate: number) => ({
  executor: 'ramping-arrival-rate' as const,
  exec,
  startRate: 0,
  timeUnit: '1s',
  preAllocatedVUs: Math.max(10, Math.ceil(rate / 10)),
  maxVUs: Math.max(50, rate),
  stages: [
    { target: rate, duration: RAMP },
    { target: rate, duration: HOLD },
    { target: 0, duration: '10s' },
  ],
});

export const options: Options = {
  setupTimeout: '10m',
  scenarios: { send: ramp('send', SEND_RATE), read: ramp('read', READ_RATE) },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    // The targets: send p99 < 50 ms (at half the maximum rate), warm history p99 < 10 ms.
    'http_req_duration{name:send}': ['p(99)<50'],
    'http_req_duration{name:history_first}': ['p(99)<10'],
    // No target for deep pages; listed so the summary shows them on their own.
    'http_req_duration{name:history_deep}': ['p(99)<1000'],
  },
};

interface HistoryConversation {
  conversation: Conversation;
  /** Message ids, newest first. */
  ids: string[];
}

interface SetupData {
  users: User[];
  direct: Conversation[];
  groups: Conversation[];
  history: HistoryConversation[];
}

/** Registers users, creates groups and sends each history conversation its past, all through the API. */
export function setup(): SetupData {
  const rng = createRng(SEED);
  const users = registerUsers(USERS, 'mix');
  const user = (i: number) => users[i % users.length] as User;
  const direct: Conversation[] = [];
  for (let i = 0; i < Math.floor(USERS / 2); i++) {
    direct.push({
      id: directConversationId(user(2 * i).id, user(2 * i + 1).id),
      kind: 'direct',
      memberIds: [user(2 * i).id, user(2 * i + 1).id],
    });
  }
  const groups: Conversation[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const members: User[] = [];
    while (members.length < Math.min(GROUP_SIZE, USERS)) {
      const candidate = rng.pick(users);
      if (!members.includes(candidate)) members.push(candidate);
    }
    groups.push(createGroup(members, `load group ${g}`));
  }
  const history: HistoryConversation[] = [];
  for (let i = 0; i < HISTORY_CONVERSATIONS; i++) {
    const a = user(2 * i);
    const b = user(2 * i + 3);
    const conversation: Conversation = {
      id: directConversationId(a.id, b.id),
      kind: 'direct',
      memberIds: [a.id, b.id],
    };
    history.push({ conversation, ids: seedHistory(a, b) });
  }
  return { users, direct, groups, history };
}

/** Sends HISTORY_DEPTH messages between two users (20 at a time); returns their ids newest first. */
function seedHistory(a: User, b: User): string[] {
  const ids: string[] = [];
  for (let start = 0; start < HISTORY_DEPTH; start += 20) {
    const batch = [];
    for (let i = start; i < Math.min(HISTORY_DEPTH, start + 20); i++) {
      const [sender, receiver] = i % 2 === 0 ? [a, b] : [b, a];
      batch.push({
        method: 'POST',
        url: `${BASE_URL}/api/v1/messages`,
        body: JSON.stringify({ receiverId: receiver.id, content: messageContent(`history ${i}`) }),
        params: {
          headers: { 'content-type': 'application/json', authorization: `Bearer ${sender.token}` },
          tags: { name: 'setup_history' },
        },
      });
    }
    for (const response of http.batch(batch)) {
      if (response.status !== 201) fail(`history seeding failed: ${response.status} ${response.body}`);
      ids.push((response.json() as { message: { id: string } }).message.id);
    }
  }
  // ULIDs sort by time: newest first is descending order.
  return ids.sort().reverse();
}

const rng = createRng(SEED + __VU);
let usersById: Map<string, User> | undefined;
const userOf = (data: SetupData, id: string) => {
  if (!usersById) usersById = new Map(data.users.map((user) => [user.id, user]));
  return usersById.get(id) as User;
};

/** One send: a one-to-one or a group conversation (half each), a random member as sender. */
export function send(data: SetupData) {
  const conversation = rng.next() < 0.5 ? rng.pick(data.direct) : rng.pick(data.groups);
  const sender = userOf(data, rng.pick(conversation.memberIds));
  sendMessage(nodeUrl(rng.int(1000)), sender, conversation, messageContent(`load ${__VU} ${__ITER}`));
}

/** One read: the first page (warm) or a page at least DEEP_FROM messages back (cold), half each. */
export function read(data: SetupData) {
  const { conversation, ids } = rng.pick(data.history);
  const reader = userOf(data, rng.pick(conversation.memberIds));
  const deep = rng.next() < 0.5;
  const cursor = deep ? (ids[DEEP_FROM + rng.int(ids.length - PAGE_LIMIT - 1 - DEEP_FROM)] as string) : '';
  readHistory(nodeUrl(rng.int(1000)), reader, conversation.id, cursor);
}
