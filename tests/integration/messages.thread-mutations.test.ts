import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { type ApiClient, expectProblem } from '../support/api.js';
import {
  connect,
  edit,
  expectMessage,
  groupWithRoles,
  historyOf,
  type Nodes,
  pair as pairOf,
  react,
  registerUser,
  remove,
  type SentMessage,
  send,
  startNodes,
  type TestUser,
  unreact,
} from './messages.mutations.support.js';

/**
 * Edits, deletes for everyone and reactions on thread replies (issue 16): the same endpoints and
 * rules as for main-history messages, written to the reply's row in thread_messages, shown on the
 * thread page, returned to a thread's `after=` catch-up in `updates` (and never in the main
 * history's), and pushed as the same events. Two API nodes sharing the real Cassandra and Redis.
 */

let nodes: Nodes;

beforeAll(async () => {
  nodes = await startNodes({ INBOX_OWN_CHANGE_MARGIN_MS: '500' });
});

afterAll(async () => {
  await nodes?.close();
});

type Reply = SentMessage & { threadId: string | null };

async function reply(from: TestUser, to: Record<string, string>, root: SentMessage, content: string): Promise<Reply> {
  const response = await nodes.apiA.post('/api/v1/messages', { ...to, content, threadId: root.id }, from.token);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.message as Reply;
}

interface ThreadPage {
  root: SentMessage;
  messages: Reply[];
  updates: Reply[];
  nextCursor: string | null;
  cursor: string | null;
}

const threadPath = (root: SentMessage, query: string) =>
  `/api/v1/conversations/${root.conversationId}/messages/${root.id}/thread?${query}`;

async function threadPage(api: ApiClient, user: TestUser, root: SentMessage, query = 'limit=100') {
  const response = await api.get(threadPath(root, query), user.token);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as ThreadPage;
}

/**
 * Follows `after=<cursor>` pages of a timeline (`path(cursor)`) until `done` holds for the latest
 * state seen of each message (bounded); returns what came as messages and as updates.
 */
async function catchUpUntil(
  api: ApiClient,
  user: TestUser,
  path: (cursor: string) => string,
  start: string,
  done: (latest: Map<string, Reply>) => boolean,
) {
  const latest = new Map<string, Reply>();
  const messageIds = new Set<string>();
  const updateIds = new Set<string>();
  let cursor = start;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await api.get(path(cursor), user.token);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const page = response.body as { messages: Reply[]; updates: Reply[]; nextCursor: string | null; cursor: string };
    for (const message of page.messages) messageIds.add(message.id);
    for (const message of page.updates) updateIds.add(message.id);
    for (const message of [...page.messages, ...page.updates]) latest.set(message.id, message);
    cursor = page.cursor;
    if (page.nextCursor === null && done(latest)) return { latest, messageIds, updateIds, cursor };
    if (Date.now() > deadline) throw new Error(`not caught up: ${JSON.stringify([...latest.values()])}`);
    if (page.nextCursor === null) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const threadAfter = (root: SentMessage) => (cursor: string) => threadPath(root, `after=${cursor}&limit=100`);
const historyAfter = (conversationId: string) => (cursor: string) =>
  `/api/v1/messages?conversationId=${conversationId}&after=${cursor}&limit=100`;
const START = '00000000000000000000000000';

describe('edit, delete and reactions on a thread reply', () => {
  it('the sender edits a reply: 200 with threadId, the thread page shows it, the main history never does', async () => {
    const { alice, bob } = await pairOf(nodes);
    const root = await send(nodes.apiA, alice, { receiverId: bob.id }, 'lunch?');
    const answer = await reply(bob, { receiverId: alice.id }, root, 'yes at 12');
    const edited = expectMessage(await edit(nodes.apiB, bob, answer, 'yes at 13')) as Reply;
    expect(edited).toMatchObject({ id: answer.id, threadId: root.id, content: 'yes at 13', deletedAt: null });
    expect(edited.editedAt).not.toBeNull();

    const page = await threadPage(nodes.apiA, alice, root);
    expect(page.messages.find((m) => m.id === answer.id)).toMatchObject({ content: 'yes at 13', threadId: root.id });
    expect(await historyOf(nodes.apiA, alice, answer)).toBeUndefined();

    // Written to the reply's own row, not to a stray row in messages.
    const { db, config } = nodes.a.container.deps;
    const bucket = new Date(bucketForMessage(answer.id, config.messages.bucketMs).start);
    const stray = await db.execute(
      'SELECT message_id FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?',
      [root.conversationId, bucket, answer.id],
    );
    expect(stray.rows).toEqual([]);
  });

  it('only the sender edits a reply: the other participant and an outsider get 403, the reply unchanged', async () => {
    const { alice, bob } = await pairOf(nodes);
    const carol = await registerUser(nodes.apiA);
    const root = await send(nodes.apiA, alice, { receiverId: bob.id }, 'root');
    const answer = await reply(bob, { receiverId: alice.id }, root, 'mine');
    expectProblem(await edit(nodes.apiA, alice, answer, 'yours now'), 403, 'FORBIDDEN');
    expectProblem(await edit(nodes.apiA, carol, answer, 'nobody’s'), 403, 'FORBIDDEN');
    expect((await threadPage(nodes.apiA, bob, root)).messages.map((m) => m.content)).toEqual(['mine']);
  });

  it('in a group: a member may not delete another’s reply (403), an outsider neither; an admin may; then edit is 409', async () => {
    const { groupId, owner, admin, member, outsider } = await groupWithRoles(nodes);
    const root = await send(nodes.apiA, owner, { groupId }, 'plans');
    const answer = await reply(owner, { groupId }, root, 'owner’s reply');
    expectProblem(await remove(nodes.apiA, member, answer), 403, 'FORBIDDEN');
    expectProblem(await remove(nodes.apiA, outsider, answer), 403, 'FORBIDDEN');
    const tombstone = expectMessage(await remove(nodes.apiB, admin, answer)) as Reply;
    expect(tombstone).toMatchObject({ id: answer.id, threadId: root.id, content: null, reactions: [] });
    expect(tombstone.deletedAt).not.toBeNull();

    expectProblem(await edit(nodes.apiA, owner, answer, 'back'), 409, 'CONFLICT');
    expectProblem(await react(nodes.apiA, member, answer, '👍'), 409, 'CONFLICT');
    const page = await threadPage(nodes.apiA, member, root);
    expect(page.messages.find((m) => m.id === answer.id)).toMatchObject({
      content: null,
      deletedAt: tombstone.deletedAt,
    });
    // The sender deletes their own reply too.
    const own = await reply(member, { groupId }, root, 'oops');
    expect(expectMessage(await remove(nodes.apiA, member, own)).content).toBeNull();
  });

  it('any participant reacts to a reply and takes it back; an outsider gets 403', async () => {
    const { alice, bob } = await pairOf(nodes);
    const carol = await registerUser(nodes.apiA);
    const root = await send(nodes.apiA, alice, { receiverId: bob.id }, 'root');
    const answer = await reply(bob, { receiverId: alice.id }, root, 'react to me');
    const reacted = expectMessage(await react(nodes.apiA, alice, answer, '🎉'));
    expect(reacted.reactions).toEqual([{ emoji: '🎉', count: 1, me: true }]);
    expectProblem(await react(nodes.apiA, carol, answer, '🎉'), 403, 'FORBIDDEN');
    const seenByBob = (await threadPage(nodes.apiB, bob, root)).messages.find((m) => m.id === answer.id);
    expect(seenByBob?.reactions).toEqual([{ emoji: '🎉', count: 1, me: false }]);
    expect(expectMessage(await unreact(nodes.apiB, alice, answer, '🎉')).reactions).toEqual([]);
    expect((await threadPage(nodes.apiA, bob, root)).messages[0]?.reactions).toEqual([]);
  });

  it('pushes message.updated, message.deleted and reaction.updated for a reply to the other participant', async () => {
    const { alice, bob } = await pairOf(nodes);
    const root = await send(nodes.apiA, alice, { receiverId: bob.id }, 'root');
    const first = await reply(bob, { receiverId: alice.id }, root, 'first');
    const second = await reply(bob, { receiverId: alice.id }, root, 'second');
    const socket = await connect(nodes, nodes.b, alice);
    expectMessage(await edit(nodes.apiA, bob, first, 'first, edited'));
    const updated = await socket.waitFor('message.updated', (data) => data.message.id === first.id);
    expect(updated.data.message).toMatchObject({ threadId: root.id, content: 'first, edited' });
    expectMessage(await react(nodes.apiA, bob, first, '👍'));
    const reaction = await socket.waitFor('reaction.updated', (data) => data.messageId === first.id);
    expect(reaction.data).toMatchObject({ threadId: root.id, emoji: '👍', count: 1, userId: bob.id, added: true });
    expectMessage(await remove(nodes.apiA, bob, second));
    const deleted = await socket.waitFor('message.deleted', (data) => data.message.id === second.id);
    expect(deleted.data.message).toMatchObject({ threadId: root.id, content: null });
  });
});

describe('catching up on changed thread replies', () => {
  it('a thread after=<cursor> returns changed replies in updates; the main history’s updates never hold a reply', async () => {
    const { alice, bob } = await pairOf(nodes);
    const root = await send(nodes.apiA, alice, { receiverId: bob.id }, 'root');
    const plain = await send(nodes.apiA, alice, { receiverId: bob.id }, 'a main message');
    const replies = [
      await reply(alice, { receiverId: bob.id }, root, 'to edit'),
      await reply(alice, { receiverId: bob.id }, root, 'to delete'),
      await reply(alice, { receiverId: bob.id }, root, 'to react to'),
    ];
    const [toEdit, toDelete, toReact] = replies as [Reply, Reply, Reply];
    const conversationId = root.conversationId;

    // Bob holds the thread and the main history, with both cursors, then goes away.
    const threadBefore = await catchUpUntil(nodes.apiB, bob, threadAfter(root), START, (latest) =>
      replies.every((r) => latest.has(r.id)),
    );
    const historyBefore = await catchUpUntil(nodes.apiB, bob, historyAfter(conversationId), START, (latest) =>
      latest.has(plain.id),
    );

    expectMessage(await edit(nodes.apiA, alice, toEdit, 'edited'));
    expectMessage(await remove(nodes.apiB, alice, toDelete));
    expectMessage(await react(nodes.apiA, alice, toReact, '👍'));
    expectMessage(await edit(nodes.apiA, alice, plain, 'a main message, edited'));

    const thread = await catchUpUntil(
      nodes.apiB,
      bob,
      threadAfter(root),
      threadBefore.cursor,
      (latest) =>
        latest.get(toEdit.id)?.content === 'edited' &&
        latest.get(toDelete.id)?.deletedAt != null &&
        (latest.get(toReact.id)?.reactions.length ?? 0) === 1,
    );
    expect([...thread.updateIds].sort()).toEqual(replies.map((r) => r.id).sort());
    expect(thread.messageIds.size).toBe(0);
    expect(thread.latest.get(toDelete.id)?.content).toBeNull();
    // The main message's edit is in the conversation's change stream, but not a reply of this thread.
    expect(thread.latest.has(plain.id)).toBe(false);

    const history = await catchUpUntil(
      nodes.apiB,
      bob,
      historyAfter(conversationId),
      historyBefore.cursor,
      (latest) => latest.get(plain.id)?.content === 'a main message, edited',
    );
    const seen = new Set([...history.updateIds, ...history.messageIds]);
    for (const r of replies) expect(seen.has(r.id)).toBe(false);
    expect(history.updateIds).toContain(plain.id);
  });
});
