import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DISTINCT_EMOJI } from '../../src/domain/reactions.js';
import { expectProblem } from '../support/api.js';
import {
  connect,
  connectOnBothNodes,
  expectMessage,
  expectNoneBefore,
  groupWithRoles,
  historyOf,
  type Nodes,
  pair as pairOf,
  react,
  registerUser,
  send,
  startNodes,
  unreact,
} from './messages.mutations.support.js';

let nodes: Nodes;

beforeAll(async () => {
  nodes = await startNodes();
});

afterAll(async () => {
  await nodes?.close();
});

const pair = () => pairOf(nodes);

describe('PUT / DELETE …/messages/{id}/reactions/{emoji}', () => {
  it('counts one reaction per user per emoji, idempotently, with `me` for the caller, in first-given order', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'react to me');
    expect(expectMessage(await react(nodes.apiA, bob, sent, '👍')).reactions).toEqual([
      { emoji: '👍', count: 1, me: true },
    ]);
    // The same again (other node): nothing changes.
    expect(expectMessage(await react(nodes.apiB, bob, sent, '👍')).reactions).toEqual([
      { emoji: '👍', count: 1, me: true },
    ]);
    expectMessage(await react(nodes.apiA, alice, sent, '🎉'));
    expect(expectMessage(await react(nodes.apiA, alice, sent, '👍')).reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: true },
    ]);
    expect((await historyOf(nodes.apiB, bob, sent))?.reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: false },
    ]);
    // 👍's earliest standing reaction is now alice's, given after her 🎉: the order follows it.
    expect(expectMessage(await unreact(nodes.apiB, bob, sent, '👍')).reactions).toEqual([
      { emoji: '🎉', count: 1, me: false },
      { emoji: '👍', count: 1, me: false },
    ]);
    // Taking back what is not there changes nothing.
    expect(expectMessage(await unreact(nodes.apiA, bob, sent, '👍')).reactions).toHaveLength(2);
    expect((await historyOf(nodes.apiA, alice, sent))?.reactions).toEqual([
      { emoji: '🎉', count: 1, me: true },
      { emoji: '👍', count: 1, me: true },
    ]);
  });

  it('takes one grapheme cluster (skin tones, ZWJ families, flags, keycaps) and refuses anything else with 400', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'emoji');
    for (const emoji of ['👍🏽', '👨‍👩‍👧', '🇫🇷', '1️⃣', '❤️']) {
      const reacted = expectMessage(await react(nodes.apiA, bob, sent, emoji));
      expect(reacted.reactions.map((r) => r.emoji)).toContain(emoji);
    }
    for (const emoji of ['👍👍', 'ab', ' ', '👨‍👩‍👧‍👦👨‍👩‍👧‍👦', '\u0007']) {
      expectProblem(await react(nodes.apiA, bob, sent, emoji), 400, 'VALIDATION_FAILED');
    }
    // One cluster of 34 bytes: a base emoji with fifteen combining marks.
    expectProblem(await react(nodes.apiA, bob, sent, `👍${'\u0301'.repeat(15)}`), 400, 'VALIDATION_FAILED');
    // Not valid percent-encoded UTF-8.
    const broken = await nodes.apiA.request(
      'PUT',
      `/api/v1/conversations/${sent.conversationId}/messages/${sent.id}/reactions/%F0%9F`,
      { token: bob.token },
    );
    expectProblem(broken, 400, 'VALIDATION_FAILED');
    expect((await historyOf(nodes.apiA, bob, sent))?.reactions).toHaveLength(5);
  });

  it('bounds the distinct emoji of a message (409) while letting existing ones be given', async () => {
    const { alice, bob } = await pair();
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'popular');
    const emoji = Array.from({ length: MAX_DISTINCT_EMOJI }, (_, i) => String.fromCodePoint(0x1f600 + i));
    for (const e of emoji) expectMessage(await react(nodes.apiA, alice, sent, e));
    expectProblem(await react(nodes.apiA, bob, sent, '🦄'), 409, 'CONFLICT');
    expect(expectMessage(await react(nodes.apiA, bob, sent, emoji[0] as string)).reactions[0]).toEqual({
      emoji: emoji[0],
      count: 2,
      me: true,
    });
  });

  it('lets every participant react, a group member too, and refuses an outsider (403) and unknown messages (404)', async () => {
    const { groupId, owner, admin, member, outsider } = await groupWithRoles(nodes);
    const sent = await send(nodes.apiA, owner, { groupId }, 'group');
    for (const user of [owner, admin, member]) expectMessage(await react(nodes.apiB, user, sent, '✅'));
    expectProblem(await react(nodes.apiA, outsider, sent, '✅'), 403, 'FORBIDDEN');
    expectProblem(await unreact(nodes.apiA, outsider, sent, '✅'), 403, 'FORBIDDEN');
    expectProblem(
      await react(nodes.apiA, member, { ...sent, id: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' }, '✅'),
      404,
      'NOT_FOUND',
    );
    expect((await historyOf(nodes.apiA, member, sent))?.reactions).toEqual([{ emoji: '✅', count: 3, me: true }]);
  });

  it('two users reacting with the same emoji at once both count (20 rounds, both nodes)', async () => {
    const { alice, bob } = await pair();
    for (let round = 0; round < 20; round++) {
      const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, `round ${round}`);
      await Promise.all([react(nodes.apiA, alice, sent, '🔥'), react(nodes.apiB, bob, sent, '🔥')]);
      const reactions = (await historyOf(nodes.apiA, alice, sent))?.reactions;
      expect(reactions).toEqual([{ emoji: '🔥', count: 2, me: true }]);
    }
  });

  it('sends reaction.updated to every connection of both participants on both nodes, and not to an outsider', async () => {
    const { alice, bob } = await pair();
    const carol = await registerUser(nodes.apiA);
    const sockets = await connectOnBothNodes(nodes, [alice, bob]);
    const carolSocket = await connect(nodes, nodes.a, carol);
    const sent = await send(nodes.apiA, alice, { receiverId: bob.id }, 'live');
    expectMessage(await react(nodes.apiB, bob, sent, '👀'));
    expectMessage(await unreact(nodes.apiA, bob, sent, '👀'));
    for (const socket of sockets) {
      const added = await socket.waitFor('reaction.updated', (data) => data.messageId === sent.id && data.added);
      expect(added.data).toEqual({
        conversationId: sent.conversationId,
        messageId: sent.id,
        threadId: null,
        emoji: '👀',
        count: 1,
        userId: bob.id,
        added: true,
      });
      const removed = await socket.waitFor('reaction.updated', (data) => data.messageId === sent.id && !data.added);
      expect(removed.data).toMatchObject({ count: 0, userId: bob.id, added: false });
    }
    await expectNoneBefore(carolSocket, 'reaction.updated', () =>
      send(nodes.apiA, alice, { receiverId: carol.id }, 'marker'),
    );
  });
});
