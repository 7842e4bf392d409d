import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

interface Item {
  id: string;
  kind: 'direct' | 'group';
  peerId: string | null;
  groupId: string | null;
  name: string | null;
  memberCount: number | null;
  lastMessage: { id: string; content: string; senderId: string; status: string } | null;
  unreadCount: number;
  unreadCountCapped: boolean;
  deliveredUpTo: string | null;
  readUpTo: string | null;
}
interface Inbox {
  conversations: Item[];
  left: string[];
  nextCursor: string | null;
  syncCursor: string;
}

/**
 * GET /api/v1/conversations as an inbox, against real Cassandra and Redis. Nothing here assumes a
 * just-sent message is already below the syncCursor an answer gives (the stable position lags the
 * newest send): tests of "only what changed" first wait until their earlier activity has settled.
 */
describe('GET /api/v1/conversations (inbox)', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    // A short margin for the caller's own changes, so settling takes seconds, not the default 30 s.
    server = await startServer({ INBOX_OWN_CHANGE_MARGIN_MS: '500' });
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  const users = (count: number) =>
    Promise.all(Array.from({ length: count }, () => registerUser(api, 'inbox'))) as Promise<TestUser[]>;

  async function inbox(user: TestUser, query = ''): Promise<Inbox> {
    const response = await api.get(`/api/v1/conversations${query ? `?${query}` : ''}`, user.token);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  }

  async function send(from: TestUser, to: { receiverId: string } | { groupId: string }, content: string) {
    const response = await api.post('/api/v1/messages', { ...to, content }, from.token);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body.message as { id: string; conversationId: string };
  }

  async function group(owner: TestUser, name: string, members: TestUser[]) {
    const response = await api.post('/api/v1/groups', { name, memberIds: members.map((m) => m.id) }, owner.token);
    expect(response.status).toBe(201);
    return response.body.group.id as string;
  }

  async function receipt(user: TestUser, conversationId: string, messageId: string, status: 'read' | 'delivered') {
    const response = await api.post(
      `/api/v1/conversations/${conversationId}/receipts`,
      { messageId, status },
      user.token,
    );
    expect(response.status).toBe(200);
  }

  const byId = (page: Inbox, id: string) => page.conversations.find((item) => item.id === id);

  /**
   * A syncCursor below which nothing of `ids` changes any more: asks changedSince with each
   * answer's syncCursor until none of them is reported (the stable position has passed their
   * last activity). With it, a test can say "only this changed" without assuming how far the
   * stable position lags.
   */
  async function settledCursor(user: TestUser, ids: string[]): Promise<string> {
    let cursor = (await inbox(user)).syncCursor;
    const deadline = Date.now() + 40_000;
    for (;;) {
      const page = await inbox(user, `changedSince=${cursor}&limit=100`);
      const reported = [...page.conversations.map((item) => item.id), ...page.left];
      if (!ids.some((id) => reported.includes(id))) return cursor;
      if (Date.now() > deadline) throw new Error(`still reported as changed: ${reported.join(', ')}`);
      cursor = page.syncCursor;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('orders conversations by last activity, newest first, across one-to-one and groups, with the last message', async () => {
    const [alice, bob, carol] = (await users(3)) as [TestUser, TestUser, TestUser];
    const withBob = directConversationId(alice.id, bob.id);
    const withCarol = directConversationId(alice.id, carol.id);
    await send(alice, { receiverId: bob.id }, 'to bob');
    const crew = await group(alice, 'Crew', [carol]);
    await send(carol, { groupId: crew }, 'in the group');
    await send(alice, { receiverId: carol.id }, 'to carol');

    const first = await inbox(alice);
    expect(first.conversations.map((item) => item.id)).toEqual([withCarol, crew, withBob]);
    expect(first.nextCursor).toBeNull();
    expect(first.left).toEqual([]);
    expect(typeof first.syncCursor).toBe('string');
    expect(byId(first, crew)).toMatchObject({
      kind: 'group',
      peerId: null,
      groupId: crew,
      name: 'Crew',
      memberCount: 2,
      lastMessage: { content: 'in the group', senderId: carol.id, status: 'sent' },
    });
    expect(byId(first, withBob)).toMatchObject({
      kind: 'direct',
      peerId: bob.id,
      groupId: null,
      name: null,
      memberCount: null,
      lastMessage: { content: 'to bob', senderId: alice.id },
    });

    // Bob answers: that conversation moves to the top, for both of them.
    await send(bob, { receiverId: alice.id }, 'hi alice');
    expect((await inbox(alice)).conversations.map((item) => item.id)).toEqual([withBob, withCarol, crew]);
    const bobs = await inbox(bob);
    expect(bobs.conversations).toHaveLength(1);
    expect(bobs.conversations[0]).toMatchObject({
      id: withBob,
      peerId: alice.id,
      lastMessage: { content: 'hi alice' },
    });

    // A new group without a message sorts by its creation: on top, with no last message.
    const quiet = await group(carol, 'Quiet', [alice]);
    const latest = await inbox(alice);
    expect(latest.conversations[0]).toMatchObject({ id: quiet, lastMessage: null, unreadCount: 0, memberCount: 2 });
  });

  it("counts the messages of others after the caller's read watermark, and the count drops after a read receipt", async () => {
    const [alice, bob] = (await users(2)) as [TestUser, TestUser];
    const id = directConversationId(alice.id, bob.id);
    const b1 = await send(bob, { receiverId: alice.id }, 'b1');
    await send(alice, { receiverId: bob.id }, 'a1');
    const b2 = await send(bob, { receiverId: alice.id }, 'b2');
    await send(alice, { receiverId: bob.id }, 'a2');
    const b3 = await send(bob, { receiverId: alice.id }, 'b3');

    // The caller's own messages never count.
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 3, unreadCountCapped: false, readUpTo: null });
    expect(byId(await inbox(bob), id)).toMatchObject({ unreadCount: 2, unreadCountCapped: false });

    await receipt(alice, id, b1.id, 'read');
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 2, readUpTo: b1.id, deliveredUpTo: b1.id });
    await receipt(alice, id, b3.id, 'delivered');
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 2, readUpTo: b1.id, deliveredUpTo: b3.id });
    await receipt(alice, id, b2.id, 'read');
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 1, readUpTo: b2.id });
    await receipt(alice, id, b3.id, 'read');
    const read = byId(await inbox(alice), id);
    expect(read).toMatchObject({ unreadCount: 0, unreadCountCapped: false, readUpTo: b3.id });
    // Bob's last message, now read by Alice, shows as read to both.
    expect(read?.lastMessage).toMatchObject({ id: b3.id, status: 'read' });
    // Bob's count is his own: Alice's receipts do not move it.
    expect(byId(await inbox(bob), id)).toMatchObject({ unreadCount: 2 });
  });

  it('counts exactly up to 99 unread messages, then answers 99 with unreadCountCapped', async () => {
    const [alice, bob] = (await users(2)) as [TestUser, TestUser];
    const id = directConversationId(alice.id, bob.id);
    const sendMany = async (count: number, from: number) => {
      for (let i = 0; i < count; i += 20) {
        await Promise.all(
          Array.from({ length: Math.min(20, count - i) }, (_, j) =>
            send(bob, { receiverId: alice.id }, `m${from + i + j}`),
          ),
        );
      }
    };
    await sendMany(99, 0);
    // Alice's own messages in between change nothing.
    await send(alice, { receiverId: bob.id }, 'mine');
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 99, unreadCountCapped: false });
    await sendMany(1, 99);
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 99, unreadCountCapped: true });
    await sendMany(30, 100);
    expect(byId(await inbox(alice), id)).toMatchObject({ unreadCount: 99, unreadCountCapped: true });
    expect(byId(await inbox(bob), id)).toMatchObject({ unreadCount: 1, unreadCountCapped: false });
  });

  it('pages with nextCursor through every conversation once, in inbox order, with no duplicates and no gaps', async () => {
    const [me, ...peers] = (await users(6)) as [TestUser, ...TestUser[]];
    for (const peer of peers) await send(peer, { receiverId: me.id }, `from ${peer.username}`);
    const g1 = await group(me, 'Page one', [peers[0] as TestUser]);
    const g2 = await group(peers[1] as TestUser, 'Page two', [me]);
    await send(peers[1] as TestUser, { groupId: g2 }, 'g2');

    const all = (await inbox(me, 'limit=100')).conversations.map((item) => item.id);
    expect(all).toHaveLength(7);
    expect(all).toContain(g1);
    const seen: string[] = [];
    let query = 'limit=3';
    const sizes: number[] = [];
    for (let pages = 0; pages < 10; pages++) {
      const page = await inbox(me, query);
      sizes.push(page.conversations.length);
      seen.push(...page.conversations.map((item) => item.id));
      if (!page.nextCursor) break;
      query = `limit=3&cursor=${page.nextCursor}`;
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(all);
  });

  it("answers changedSince with only the conversations that changed: a new message or a move of the caller's own watermark", async () => {
    const [erin, frank, gina] = (await users(3)) as [TestUser, TestUser, TestUser];
    const withFrank = directConversationId(erin.id, frank.id);
    const withGina = directConversationId(erin.id, gina.id);
    await send(frank, { receiverId: erin.id }, 'old news');
    const fromGina = await send(gina, { receiverId: erin.id }, 'old news too');
    const club = await group(frank, 'Club', [erin]);
    await send(frank, { groupId: club }, 'welcome');
    const since = await settledCursor(erin, [withFrank, withGina, club]);

    const fresh = await send(frank, { receiverId: erin.id }, 'news');
    const changed = await inbox(erin, `changedSince=${since}`);
    expect(changed.conversations.map((item) => item.id)).toEqual([withFrank]);
    expect(changed.conversations[0]).toMatchObject({ lastMessage: { id: fresh.id, content: 'news' }, unreadCount: 2 });
    expect(changed.left).toEqual([]);
    // Erin's own read receipt is a change too: her other devices must see that count drop.
    await receipt(erin, withGina, fromGina.id, 'read');
    const again = await inbox(erin, `changedSince=${since}`);
    expect(again.conversations.map((item) => item.id).sort()).toEqual([withFrank, withGina].sort());
    expect(byId(again, withGina)).toMatchObject({ unreadCount: 0, readUpTo: fromGina.id });
    expect(byId(again, club)).toBeUndefined();
  });

  it('reports a group the caller left in `left` and a group the caller joined among the conversations', async () => {
    const [erin, frank] = (await users(2)) as [TestUser, TestUser];
    const leaving = await group(frank, 'Leaving', [erin]);
    await send(frank, { groupId: leaving }, 'before you go');
    const joining = await group(frank, 'Joining', []);
    await send(frank, { groupId: joining }, 'before you came');
    const since = await settledCursor(erin, [leaving]);

    expect((await api.delete(`/api/v1/groups/${leaving}/members/${erin.id}`, erin.token)).status).toBe(204);
    const added = await api.post(`/api/v1/groups/${joining}/members`, { userId: erin.id }, frank.token);
    expect(added.status).toBe(201);

    const changed = await inbox(erin, `changedSince=${since}`);
    expect(changed.left).toEqual([leaving]);
    expect(changed.conversations.map((item) => item.id)).toEqual([joining]);
    expect(changed.conversations[0]).toMatchObject({ name: 'Joining', memberCount: 2, unreadCount: 1 });
    // The full listing drops the left group and holds the joined one.
    const full = (await inbox(erin)).conversations.map((item) => item.id);
    expect(full).toEqual([joining]);

    // Joining again: the group is back among the conversations, no longer in `left`.
    expect((await api.post(`/api/v1/groups/${leaving}/members`, { userId: erin.id }, frank.token)).status).toBe(201);
    const rejoined = await inbox(erin, `changedSince=${since}`);
    expect(rejoined.left).toEqual([]);
    expect(rejoined.conversations.map((item) => item.id).sort()).toEqual([joining, leaving].sort());
  });

  it("lists only the caller's conversations, whatever cursor is sent", async () => {
    const [alice, bob, carol] = (await users(3)) as [TestUser, TestUser, TestUser];
    await send(bob, { receiverId: carol.id }, 'private');
    const secret = await group(bob, 'Secret', [carol]);
    await send(carol, { groupId: secret }, 'also private');
    expect((await inbox(alice)).conversations).toEqual([]);
    // Carol's own cursors do not open her inbox to Alice: cursors name positions, not users.
    const carols = await inbox(carol, 'limit=1');
    expect(carols.nextCursor).not.toBeNull();
    expect((await inbox(alice, `cursor=${carols.nextCursor}`)).conversations).toEqual([]);
    const changed = await inbox(alice, `changedSince=${carols.syncCursor}`);
    expect(changed).toMatchObject({ conversations: [], left: [] });
    expectProblem(await api.get('/api/v1/conversations'), 401, 'UNAUTHENTICATED');
  });

  it('refuses a cursor or changedSince it did not issue with 400 VALIDATION_FAILED naming the parameter', async () => {
    const [alice, bob, carol] = (await users(3)) as [TestUser, TestUser, TestUser];
    await send(bob, { receiverId: alice.id }, 'one');
    await send(carol, { receiverId: alice.id }, 'two');
    const { syncCursor, nextCursor } = await inbox(alice, 'limit=1');
    expect(nextCursor).not.toBeNull();
    const cases: Array<[string, string]> = [
      ['cursor=not-a-cursor', 'query.cursor'],
      [`cursor=${syncCursor}`, 'query.cursor'],
      ['changedSince=%F0%9F%92%A9', 'query.changedSince'],
      [`changedSince=${syncCursor}x`, 'query.changedSince'],
      ['changedSince=', 'query.changedSince'],
      ['limit=0', 'query.limit'],
      // A nextCursor carries its listing's changedSince: both at once is ambiguous.
      [`cursor=${nextCursor}&changedSince=${syncCursor}`, 'query.changedSince'],
    ];
    for (const [query, path] of cases) {
      const problem = expectProblem(
        await api.get(`/api/v1/conversations?${query}`, alice.token),
        400,
        'VALIDATION_FAILED',
      );
      expect(
        problem.issues.map((issue: { path: string }) => issue.path),
        query,
      ).toContain(path);
    }
    // The cursors it issued are taken.
    expect((await inbox(alice, `cursor=${nextCursor}`)).conversations).toHaveLength(1);
    expect((await inbox(alice, `changedSince=${syncCursor}`)).syncCursor).toEqual(expect.any(String));
  });
});
