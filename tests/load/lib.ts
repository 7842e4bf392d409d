/**
 * Shared pieces of the k6 scripts: where the API is, seeded randomness, the same message body and
 * page size as the Node harness (tests/bench), and set-up through the public API.
 */
import { check, fail } from 'k6';
import http from 'k6/http';

/** API nodes, comma separated; clients and senders are spread over them (user i → node i mod n). */
export const BASE_URLS = (__ENV.BASE_URLS || __ENV.BASE_URL || 'http://localhost:3000')
  .split(',')
  .map((url) => url.trim().replace(/\/$/, ''))
  .filter((url) => url.length > 0);
export const BASE_URL = BASE_URLS[0] as string;
export const nodeUrl = (index: number) => BASE_URLS[index % BASE_URLS.length] as string;
export const api = (base: string, path: string) => `${base}/api/v1${path}`;
export const wsUrl = (base: string, token: string) =>
  `${base.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`;

export const SEED = Number(__ENV.SEED || 20240601);
/** History page size, as in the Node harness (fits the default 50-message cache window). */
export const PAGE_LIMIT = 30;
/** Deep pages start at least this many messages back (as in the Node harness). */
export const DEEP_FROM = 100;

export const envInt = (name: string, fallback: number) => {
  const value = Number(__ENV[name]);
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
};

/** mulberry32, the same generator as tests/bench/lib/prng.ts. */
export function createRng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] as T };
}

/** A message body of fixed length (120 characters), as in the Node harness. */
export const messageContent = (tag: string) => {
  let text = `${tag} `;
  while (text.length < 120) text += 'lorem ipsum dolor sit amet ';
  return text.slice(0, 120);
};

export interface User {
  id: string;
  token: string;
}

export interface Conversation {
  id: string;
  kind: 'direct' | 'group';
  memberIds: string[];
}

/** The one-to-one conversation id the API derives: `dm_<smaller id>_<larger id>`. */
export const directConversationId = (a: string, b: string) => (a < b ? `dm_${a}_${b}` : `dm_${b}_${a}`);

const JSON_HEADERS = { 'content-type': 'application/json' };
const auth = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

/** Registers `count` users through POST /api/v1/users, `parallel` at a time. */
export function registerUsers(count: number, prefix: string, parallel = 10): User[] {
  const run = `${prefix}_${Date.now().toString(36)}`;
  const users: User[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + parallel); i++) {
      batch.push({
        method: 'POST',
        url: api(BASE_URL, '/users'),
        body: JSON.stringify({ username: `${run}_${i}`, password: 'load-test-password' }),
        params: { headers: JSON_HEADERS, tags: { name: 'setup_register' } },
      });
    }
    for (const response of http.batch(batch)) {
      // These scripts expect RATE_LIMIT_ENABLED=false on the servers (see README): say so plainly.
      if (response.status === 429 || response.headers['Ratelimit-Policy']) {
        fail('the API has rate limits on (RateLimit-Policy / 429): start it with RATE_LIMIT_ENABLED=false');
      }
      if (response.status !== 201) fail(`register failed: ${response.status} ${response.body}`);
      const body = response.json() as { user: { id: string }; token: string };
      users.push({ id: body.user.id, token: body.token });
    }
  }
  return users;
}

/** Creates a group through POST /api/v1/groups; the first user owns it. */
export function createGroup(members: User[], name: string): Conversation {
  const [owner, ...others] = members;
  if (!owner) fail('a group needs an owner');
  const response = http.post(
    api(BASE_URL, '/groups'),
    JSON.stringify({ name, memberIds: others.map((user) => user.id) }),
    { headers: auth((owner as User).token), tags: { name: 'setup_group' } },
  );
  if (response.status !== 201) fail(`group creation failed: ${response.status} ${response.body}`);
  const id = (response.json() as { group: { id: string } }).group.id;
  return { id, kind: 'group', memberIds: members.map((user) => user.id) };
}

/** POST /api/v1/messages; returns the new message id ('' on failure, which the check records). */
export function sendMessage(base: string, sender: User, conversation: Conversation, content: string): string {
  const target =
    conversation.kind === 'group'
      ? { groupId: conversation.id }
      : { receiverId: conversation.memberIds.find((id) => id !== sender.id) };
  const response = http.post(api(base, '/messages'), JSON.stringify({ ...target, content }), {
    headers: auth(sender.token),
    tags: { name: 'send' },
  });
  check(response, { 'send answered 201': (r) => r.status === 201 });
  return response.status === 201 ? (response.json() as { message: { id: string } }).message.id : '';
}

/** GET /api/v1/messages: the first page (`before` empty) or a deep page before a cursor. */
export function readHistory(base: string, reader: User, conversationId: string, before = '') {
  const cursor = before ? `&before=${before}` : '';
  const response = http.get(api(base, `/messages?conversationId=${conversationId}&limit=${PAGE_LIMIT}${cursor}`), {
    headers: auth(reader.token),
    tags: { name: before ? 'history_deep' : 'history_first' },
  });
  check(response, { 'history answered 200': (r) => r.status === 200 });
}
