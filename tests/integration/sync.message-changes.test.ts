import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient, TestUser } from '../support/api.js';
import {
  edit,
  expectMessage,
  type Nodes,
  react,
  registerUser,
  remove,
  type SentMessage,
  send,
  startNodes,
} from './messages.mutations.support.js';

/**
 * The change stream: edits, deletes and reactions made while a client is away reach it through
 * the same loop that brings it new messages (src/ws/README.md): the inbox's changedSince names the
 * conversation, and `after=<cursor>` pages carry the changed messages in `updates`.
 */

interface Page {
  messages: SentMessage[];
  updates: SentMessage[];
  nextCursor: string | null;
  cursor: string;
}

let nodes: Nodes;

beforeAll(async () => {
  // Own changes count from 500 ms before a syncCursor (not 30 s), so a settled cursor comes quickly.
  nodes = await startNodes({ INBOX_OWN_CHANGE_MARGIN_MS: '500' });
});

afterAll(async () => {
  await nodes?.close();
});

/** Follows `after=<cursor>` pages as the documented client does; returns everything seen and the last cursor. */
async function catchUp(api: ApiClient, user: TestUser, conversationId: string, cursor: string, limit = 100) {
  const messages: SentMessage[] = [];
  const updates: SentMessage[] = [];
  let pages = 0;
  for (;;) {
    const response = await api.get(
      `/api/v1/messages?conversationId=${conversationId}&after=${cursor}&limit=${limit}`,
      user.token,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const page = response.body as Page;
    expect(page.updates.length).toBeLessThanOrEqual(limit);
    messages.push(...page.messages);
    updates.push(...page.updates);
    cursor = page.cursor;
    pages++;
    if (page.nextCursor === null) return { messages, updates, cursor, pages };
  }
}

/** Catches up until `done` holds for the latest state seen of each message (bounded). */
async function catchUpUntil(
  api: ApiClient,
  user: TestUser,
  conversationId: string,
  start: string,
  done: (latest: Map<string, SentMessage>) => boolean,
) {
  const latest = new Map<string, SentMessage>();
  let cursor = start;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const round = await catchUp(api, user, conversationId, cursor);
    for (const message of [...round.messages, ...round.updates]) latest.set(message.id, message);
    cursor = round.cursor;
    if (done(latest)) return { latest, cursor };
    if (Date.now() > deadline) throw new Error(`not caught up: ${JSON.stringify([...latest.values()])}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function inbox(api: ApiClient, user: TestUser, query = '') {
  const response = await api.get(`/api/v1/conversations${query ? `?${query}` : ''}`, user.token);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as { conversations: Array<{ id: string; lastMessage: SentMessage | null }>; syncCursor: string };
}

/** An inbox syncCursor past every change of these conversations so far (nothing of them reported since). */
async function settledInboxCursor(api: ApiClient, user: TestUser, ids: string[]) {
  let cursor = (await inbox(api, user)).syncCursor;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const page = await inbox(api, user, `changedSince=${cursor}&limit=100`);
    if (!page.conversations.some((item) => ids.includes(item.id))) return cursor;
    if (Date.now() > deadline) throw new Error('inbox never settled');
    cursor = page.syncCursor;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('edits, deletes and reactions through sync', () => {
  it('a client away during an edit, a delete and a reaction gets all three from after=<cursor> and changedSince', async () => {
    const [alice, bob, carol] = await Promise.all([
      registerUser(nodes.apiA),
      registerUser(nodes.apiA),
      registerUser(nodes.apiA),
    ]);
    const first = await send(nodes.apiA, alice, { receiverId: bob.id }, 'first, with a typo');
    const second = await send(nodes.apiA, alice, { receiverId: bob.id }, 'second, regretted');
    const third = await send(nodes.apiA, alice, { receiverId: bob.id }, 'third');
    const quiet = await send(nodes.apiA, carol, { receiverId: bob.id }, 'unrelated');
    const conversationId = first.conversationId;

    // Bob is up to date (every message pulled, his cursors stored), then goes away.
    const start = '00000000000000000000000000';
    const before = await catchUpUntil(nodes.apiB, bob, conversationId, start, (latest) => latest.has(third.id));
    const inboxCursor = await settledInboxCursor(nodes.apiB, bob, [conversationId, quiet.conversationId]);

    const edited = expectMessage(await edit(nodes.apiA, alice, first, 'first, fixed'));
    const deleted = expectMessage(await remove(nodes.apiB, alice, second));
    expectMessage(await react(nodes.apiA, alice, third, '👍'));

    // Back: the inbox names the conversation (and not the quiet one), its order and last message unchanged.
    const changed = await inbox(nodes.apiA, bob, `changedSince=${inboxCursor}&limit=100`);
    expect(changed.conversations.map((item) => item.id)).toEqual([conversationId]);
    expect(changed.conversations[0]?.lastMessage?.id).toBe(third.id);

    // The conversation's cursor brings the three changed messages as updates, and no new message.
    const after = await catchUpUntil(
      nodes.apiA,
      bob,
      conversationId,
      before.cursor,
      (latest) =>
        latest.get(first.id)?.content === 'first, fixed' &&
        latest.get(second.id)?.deletedAt != null &&
        (latest.get(third.id)?.reactions.length ?? 0) > 0,
    );
    expect(after.latest.get(first.id)).toEqual({ ...edited, status: expect.any(String) });
    expect(after.latest.get(second.id)).toEqual({ ...deleted, status: expect.any(String) });
    expect(after.latest.get(third.id)?.reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);
    expect([...after.latest.keys()].sort()).toEqual([first.id, second.id, third.id].sort());

    // Once caught up, the same cursor brings nothing again.
    const again = await catchUp(nodes.apiB, bob, conversationId, after.cursor);
    expect(again.updates).toEqual([]);
    expect(again.messages).toEqual([]);
  });

  it('pages the updates like messages: never more than the limit a page, every change reached by following the cursor', async () => {
    const [alice, bob] = await Promise.all([registerUser(nodes.apiA), registerUser(nodes.apiA)]);
    const sent: SentMessage[] = [];
    for (let i = 0; i < 7; i++) sent.push(await send(nodes.apiA, alice, { receiverId: bob.id }, `m${i}`));
    const conversationId = sent[0]?.conversationId as string;
    const before = await catchUpUntil(nodes.apiA, bob, conversationId, '00000000000000000000000000', (latest) =>
      latest.has(sent[6]?.id as string),
    );
    for (const message of sent) expectMessage(await react(nodes.apiA, alice, message, '🙂'));
    const after = await catchUpUntil(nodes.apiB, bob, conversationId, before.cursor, (latest) =>
      sent.every((message) => (latest.get(message.id)?.reactions.length ?? 0) === 1),
    );
    expect(after.latest.size).toBe(7);
    // With pages of 2, the seven changes take at least four pages, each with at most two updates.
    const paged = await catchUp(nodes.apiB, bob, conversationId, before.cursor, 2);
    expect(paged.pages).toBeGreaterThanOrEqual(4);
    expect(new Set(paged.updates.map((message) => message.id)).size).toBe(7);
  });

  it('a cached first page shows an edit, a delete and a reaction at once, on both nodes', async () => {
    const [alice, bob] = await Promise.all([registerUser(nodes.apiA), registerUser(nodes.apiA)]);
    const one = await send(nodes.apiA, alice, { receiverId: bob.id }, 'one');
    const two = await send(nodes.apiA, alice, { receiverId: bob.id }, 'two');
    const three = await send(nodes.apiA, alice, { receiverId: bob.id }, 'three');
    const firstPage = (api: ApiClient) => api.get(`/api/v1/messages?peerId=${alice.id}&limit=10`, bob.token);
    // Fill the window on both nodes (a second read is a hit).
    for (const api of [nodes.apiA, nodes.apiB, nodes.apiA, nodes.apiB]) expect((await firstPage(api)).status).toBe(200);
    const hits = () => nodes.a.container.deps.cacheCounters.get('recent', 'hit');

    expectMessage(await edit(nodes.apiB, alice, one, 'one, edited'));
    expectMessage(await remove(nodes.apiA, alice, two));
    expectMessage(await react(nodes.apiB, bob, three, '🎉'));

    for (const api of [nodes.apiA, nodes.apiB, nodes.apiA]) {
      const page = (await firstPage(api)).body.messages as SentMessage[];
      const byId = new Map(page.map((message) => [message.id, message]));
      expect(byId.get(one.id)?.content).toBe('one, edited');
      expect(byId.get(two.id)?.content).toBeNull();
      expect(byId.get(three.id)?.reactions).toEqual([{ emoji: '🎉', count: 1, me: true }]);
      expect(page.map((message) => message.id)).toEqual([three.id, two.id, one.id]);
    }
    const hitsBefore = hits();
    await firstPage(nodes.apiA);
    expect(hits()).toBe(hitsBefore + 1);
  });
});
