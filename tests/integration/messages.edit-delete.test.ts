import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { expectProblem } from '../support/api.js';
import {
  connect,
  connectOnBothNodes,
  edit,
  expectMessage,
  expectNoneBefore,
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
} from './messages.mutations.support.js';

let nodes: Nodes;

beforeAll(async () => {
  nodes = await startNodes();
});

afterAll(async () => {
  await nodes?.close();
});

const pair = () => pairOf(nodes);

/** The message's cells as Cassandra holds them (not through the API). */
async function row(message: SentMessage) {
  const bucket = bucketForMessage(message.id, nodes.a.container.deps.config.messages.bucketMs);
  const result = await nodes.a.container.deps.db.execute(
    'SELECT content, edited_at, deleted_at, reactions FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?',
    [message.conversationId, new Date(bucket.start), message.id],
  );
  return result.first();
}

describe('PATCH /conversations/{id}/messages/{id} (edit)', () => {
  it('replaces the content for the sender, sets editedAt, and history on both nodes shows it', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'helo');
    const edited = expectMessage(await edit(nodes.apiA, alice, sent, 'hello'));
    expect(edited).toMatchObject({ id: sent.id, content: 'hello', deletedAt: null, reactions: [] });
    expect(Date.parse(edited.editedAt as string)).toBeGreaterThanOrEqual(Date.parse(sent.createdAt as string));
    for (const api of [nodes.apiA, nodes.apiB]) {
      expect(await historyOf(api, bob, sent)).toEqual({ ...edited, status: expect.any(String) });
    }
  });

  it('refuses another participant (403) and an outsider (403), and leaves the message as it was', async () => {
    const { alice, bob } = await pair();
    const carol = await registerUser(nodes.apiA);
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'mine');
    expectProblem(await edit(nodes.apiA, bob, sent, 'yours now'), 403, 'FORBIDDEN');
    expectProblem(await edit(nodes.apiA, carol, sent, 'nobody’s'), 403, 'FORBIDDEN');
    expect((await historyOf(nodes.apiA, alice, sent))?.content).toBe('mine');
  });

  it('in a group: only the sender edits; owner, admin and other members get 403; an outsider 403', async () => {
    const { groupId, owner, admin, member, outsider } = await groupWithRoles(nodes);
    const sent = await send(nodes.apiA, member, { groupId }, 'group text');
    for (const user of [owner, admin, outsider]) {
      expectProblem(await edit(nodes.apiA, user, sent, 'changed'), 403, 'FORBIDDEN');
    }
    expect(expectMessage(await edit(nodes.apiB, member, sent, 'changed')).content).toBe('changed');
  });

  it('validates the content as a send does and refuses unknown fields', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'ok');
    for (const content of ['', '   ', 'x'.repeat(4001), 42, null]) {
      expectProblem(await edit(nodes.apiA, alice, sent, content), 400, 'VALIDATION_FAILED');
    }
    const extra = await nodes.apiA.request(
      'PATCH',
      `/api/v1/conversations/${sent.conversationId}/messages/${sent.id}`,
      {
        body: { content: 'fine', senderId: alice.id },
        token: alice.token,
      },
    );
    expectProblem(extra, 400, 'VALIDATION_FAILED');
    expectProblem(
      await nodes.apiA.request('PATCH', `/api/v1/conversations/${sent.conversationId}/messages/not-an-id`, {
        body: { content: 'x' },
        token: alice.token,
      }),
      400,
      'VALIDATION_FAILED',
    );
    expect((await historyOf(nodes.apiA, alice, sent))?.content).toBe('ok');
  });

  it('answers 404 for a message that is not in the conversation, and 401 without a token', async () => {
    const { alice, bob } = await pair();
    const other = await registerUser(nodes.apiA);
    const elsewhere = await send(nodes.apiA, alice, { receiverId: other.id }, 'elsewhere');
    const here = await send(nodes.apiA, alice, { receiverId: bob.id }, 'here');
    expectProblem(
      await edit(nodes.apiA, alice, { ...elsewhere, conversationId: here.conversationId }, 'x'),
      404,
      'NOT_FOUND',
    );
    const anonymous = await nodes.apiA.request(
      'PATCH',
      `/api/v1/conversations/${here.conversationId}/messages/${here.id}`,
      {
        body: { content: 'x' },
      },
    );
    expectProblem(anonymous, 401, 'UNAUTHENTICATED');
  });

  it('sends message.updated to every connection of both participants on both nodes, and not to an outsider', async () => {
    const { alice, bob } = await pair();
    const carol = await registerUser(nodes.apiA);
    const sockets = await connectOnBothNodes(nodes, [alice, bob]);
    const carolSocket = await connect(nodes, nodes.b, carol);
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'before');
    const edited = expectMessage(await edit(nodes.apiB, alice, sent, 'after'));
    for (const socket of sockets) {
      const frame = await socket.waitFor('message.updated', (data) => data.message.id === sent.id);
      expect(frame.data.message).toEqual(edited);
    }
    await expectNoneBefore(carolSocket, 'message.updated', () =>
      send(nodes.apiA, alice, { receiverId: carol.id }, 'marker'),
    );
  });
});

describe('DELETE /conversations/{id}/messages/{id} (delete for everyone)', () => {
  it('answers a tombstone, removes the text and the reactions from the row, and is idempotent', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'secret');
    expectMessage(await react(nodes.apiA, bob, sent, '👍'));
    expectMessage(await edit(nodes.apiA, alice, sent, 'secret, edited'));
    const tombstone = expectMessage(await remove(nodes.apiA, alice, sent));
    expect(tombstone).toMatchObject({ id: sent.id, content: null, editedAt: null, reactions: [] });
    expect(typeof tombstone.deletedAt).toBe('string');
    const cells = await row(sent);
    expect(cells?.content).toBeNull();
    expect(cells?.edited_at).toBeNull();
    expect(cells?.reactions).toBeNull();
    expect(cells?.deleted_at).toBeInstanceOf(Date);
    // Again, on the other node: the same tombstone.
    expect(expectMessage(await remove(nodes.apiB, alice, sent))).toEqual(tombstone);
    expect(await historyOf(nodes.apiB, bob, sent)).toEqual({ ...tombstone, status: expect.any(String) });
  });

  it('keeps pages whole: a deleted message stays in history as a tombstone, in its place', async () => {
    const { alice, bob } = await pair();
    const first = await send(nodes.apiA, alice, { receiverId: bob.id }, 'one');
    const second = await send(nodes.apiA, alice, { receiverId: bob.id }, 'two');
    const third = await send(nodes.apiA, bob, { receiverId: alice.id }, 'three');
    expectMessage(await remove(nodes.apiA, alice, second));
    const page = await nodes.apiA.get(`/api/v1/messages?peerId=${bob.id}&limit=2`, alice.token);
    expect(page.body.messages.map((m: SentMessage) => [m.id, m.content])).toEqual([
      [third.id, 'three'],
      [second.id, null],
    ]);
    const older = await nodes.apiA.get(`/api/v1/messages?peerId=${bob.id}&limit=2&before=${second.id}`, alice.token);
    expect(older.body.messages.map((m: SentMessage) => m.id)).toEqual([first.id]);
  });

  it('refuses to edit a deleted message with 409, and to react to it with 409', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'gone soon');
    expectMessage(await remove(nodes.apiA, alice, sent));
    expectProblem(await edit(nodes.apiA, alice, sent, 'back?'), 409, 'CONFLICT');
    expectProblem(await react(nodes.apiA, bob, sent, '👍'), 409, 'CONFLICT');
    expect((await historyOf(nodes.apiA, bob, sent))?.content).toBeNull();
  });

  it('one-to-one: the other participant and an outsider cannot delete (403)', async () => {
    const { alice, bob } = await pair();
    const carol = await registerUser(nodes.apiA);
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'stays');
    expectProblem(await remove(nodes.apiA, bob, sent), 403, 'FORBIDDEN');
    expectProblem(await remove(nodes.apiA, carol, sent), 403, 'FORBIDDEN');
    expect((await historyOf(nodes.apiA, alice, sent))?.content).toBe('stays');
  });

  it('group: the owner and an admin may delete anyone’s message; a member only their own; an outsider nothing', async () => {
    const { groupId, owner, admin, member, outsider } = await groupWithRoles(nodes);
    const byMember = await send(nodes.apiA, member, { groupId }, 'm1');
    const byMember2 = await send(nodes.apiA, member, { groupId }, 'm2');
    const byOwner = await send(nodes.apiA, owner, { groupId }, 'o1');
    expectProblem(await remove(nodes.apiA, outsider, byMember), 403, 'FORBIDDEN');
    expectProblem(await remove(nodes.apiA, member, byOwner), 403, 'FORBIDDEN');
    expect(expectMessage(await remove(nodes.apiA, owner, byMember)).content).toBeNull();
    expect(expectMessage(await remove(nodes.apiB, admin, byMember2)).content).toBeNull();
    expect(expectMessage(await remove(nodes.apiA, owner, byOwner)).content).toBeNull();
    const own = await send(nodes.apiA, member, { groupId }, 'mine');
    expect(expectMessage(await remove(nodes.apiA, member, own)).content).toBeNull();
  });

  it('sends message.deleted to every member’s connections on both nodes, and not to an outsider', async () => {
    const { groupId, owner, admin, member, outsider } = await groupWithRoles(nodes);
    const sockets = [
      await connect(nodes, nodes.a, owner),
      await connect(nodes, nodes.b, admin),
      await connect(nodes, nodes.a, member),
      await connect(nodes, nodes.b, member),
    ];
    const outsiderSocket = await connect(nodes, nodes.a, outsider);
    const sent = await send(nodes.apiA, member, { groupId }, 'to be removed');
    const tombstone = expectMessage(await remove(nodes.apiB, admin, sent));
    for (const socket of sockets) {
      const frame = await socket.waitFor('message.deleted', (data) => data.message.id === sent.id);
      expect(frame.data.message).toEqual(tombstone);
    }
    await expectNoneBefore(outsiderSocket, 'message.deleted', () =>
      send(nodes.apiA, owner, { receiverId: outsider.id }, 'marker'),
    );
  });

  it('a delete racing an edit always ends deleted (40 races, both nodes)', async () => {
    const { alice, bob } = await pair();
    const races = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, `race ${i}`);
        const [first, second] = i % 2 === 0 ? [nodes.apiA, nodes.apiB] : [nodes.apiB, nodes.apiA];
        const [edited, deleted] = await Promise.all([
          edit(first, alice, sent, `edited ${i}`),
          remove(second, alice, sent),
        ]);
        // The edit either went first (200) or found the tombstone (409); the delete always answers.
        expect([200, 409]).toContain(edited.status);
        expect(deleted.status).toBe(200);
        return sent;
      }),
    );
    for (const sent of races) {
      const cells = await row(sent);
      expect(cells?.content).toBeNull();
      expect(cells?.edited_at).toBeNull();
      expect(cells?.deleted_at).toBeInstanceOf(Date);
    }
  });
});
