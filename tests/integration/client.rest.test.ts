import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { PASSWORD, rejection, sdkClient, sdkUser } from '../support/sdk.js';
import { startServer, type TestServer } from '../support/server.js';
import { claimsOf, signToken } from '../support/tokens.js';

/** Every REST family once through the SDK, against the real server, and its typed errors. */
let node: TestServer;

beforeAll(async () => {
  node = await startServer();
});

afterAll(async () => {
  await node?.close();
});

describe('the SDK over REST', () => {
  it('signs up, signs in, reads profiles and presence, and signs out', async () => {
    const ada = await sdkUser(node.url, 'ada');
    const bob = await sdkUser(node.url, 'bob');
    expect((await ada.client.accounts.me()).user.id).toBe(ada.id);

    const again = sdkClient(node.url);
    const login = await again.accounts.login({ username: ada.username, password: PASSWORD });
    expect(login.user.id).toBe(ada.id);
    expect(again.tokens()?.refreshToken).toBe(login.refreshToken);

    // A shared conversation first: presence is visible only between users who share one.
    await ada.client.messages.send({ receiverId: bob.id, content: 'hi' });
    const profile = await ada.client.accounts.user(bob.id);
    expect(profile.user.username).toBe(bob.username);
    expect(profile.presence?.status).toBe('offline');
    expect((await ada.client.accounts.byUsername(bob.username.toUpperCase())).user.id).toBe(bob.id);
    const presence = await ada.client.presence.of([bob.id]);
    expect(presence.presence.map((p) => p.userId)).toEqual([bob.id]);

    await again.accounts.logout();
    expect(again.tokens()).toBeUndefined();
    const afterLogout = await rejection(again.accounts.me());
    expect(afterLogout).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('sends (retries answer the stored message), reads history, the inbox and receipts', async () => {
    const ada = await sdkUser(node.url, 'ada');
    const bob = await sdkUser(node.url, 'bob');
    const first = await ada.client.messages.send({ receiverId: bob.id, content: 'one', clientMessageId: 'key-1' });
    const retry = await ada.client.messages.send({ receiverId: bob.id, content: 'one', clientMessageId: 'key-1' });
    expect(retry.message.id).toBe(first.message.id);
    const second = await ada.client.messages.send({ receiverId: bob.id, content: 'two' });

    const page = await bob.client.messages.history({ peerId: ada.id, limit: 10 });
    expect(page.messages.map((m) => m.content)).toEqual(['two', 'one']);
    expect(typeof page.cursor).toBe('string');

    const inbox = await bob.client.conversations.inbox();
    expect(inbox.conversations).toHaveLength(1);
    expect(inbox.conversations[0]).toMatchObject({ peerId: ada.id, unreadCount: 2 });
    const conversationId = first.message.conversationId;
    const moved = await bob.client.conversations.markAs(conversationId, {
      messageId: second.message.id,
      status: 'read',
    });
    expect(moved.receipt.readUpTo).toBe(second.message.id);
    const receipts = await ada.client.conversations.receipts(conversationId);
    expect(receipts.receipts.find((r) => r.userId === bob.id)?.readUpTo).toBe(second.message.id);
  });

  it('manages a group: create, list, get, members, add, remove, and sends to it', async () => {
    const owner = await sdkUser(node.url, 'own');
    const member = await sdkUser(node.url, 'mem');
    const { group } = await owner.client.groups.create({ name: 'sdk group' });
    expect((await owner.client.groups.get(group.id)).group.name).toBe('sdk group');
    const added = await owner.client.groups.addMember(group.id, member.id);
    expect(added.member.userId).toBe(member.id);
    expect((await member.client.groups.list()).groups.map((g) => g.id)).toEqual([group.id]);
    const members = await member.client.groups.members(group.id);
    expect(members.members.map((m) => m.userId).sort()).toEqual([owner.id, member.id].sort());
    await member.client.messages.send({ groupId: group.id, content: 'hello group' });
    await owner.client.groups.removeMember(group.id, member.id);
    const gone = await rejection(member.client.groups.get(group.id));
    expect(gone.status).toBe(403);
    expect(gone.code).toBe('FORBIDDEN');
  });

  it('reaches any operation of the document through call(), typed by path and method', async () => {
    const ada = await sdkUser(node.url, 'ada');
    const me = await ada.client.call('get', '/users/me');
    expect(me.user.id).toBe(ada.id);
  });

  it('refreshes an expired access token once and repeats the call', async () => {
    const ada = await sdkUser(node.url, 'ada');
    const tokens = ada.client.tokens();
    const claims = claimsOf(tokens?.token ?? '');
    const expired = signToken({ ...claims, iat: claims.iat - 3600, exp: claims.iat - 1800 });
    const seen: Array<string | undefined> = [];
    const client = sdkClient(node.url, {
      tokens: { token: expired, refreshToken: tokens?.refreshToken ?? null },
      onTokens: (next) => seen.push(next?.token),
    });
    expect((await client.accounts.me()).user.id).toBe(ada.id);
    expect(seen).toHaveLength(1);
    expect(client.tokens()?.token).not.toBe(expired);
    // The old refresh token was spent by that rotation: presenting it again ends the session.
    const reused = sdkClient(node.url, { tokens: { token: expired, refreshToken: tokens?.refreshToken ?? null } });
    expect(await rejection(reused.accounts.me())).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('throws one typed error for 400, 401, 404 and 409, with code, status, detail and issues', async () => {
    const ada = await sdkUser(node.url, 'ada');
    const bad = await rejection(ada.client.messages.history({ peerId: ada.id, after: 'not-a-cursor!' }));
    expect(bad).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(bad.issues.map((issue) => issue.path)).toContain('query.after');
    expect(bad.requestId).toEqual(expect.any(String));

    const wrong = await rejection(
      sdkClient(node.url).accounts.login({ username: ada.username, password: 'nope-nope' }),
    );
    expect(wrong).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });

    const missing = await rejection(ada.client.accounts.user('01JD3W6YQ7R5S3T2V1X0Z9Y8W7'));
    expect(missing).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    const nobody = await rejection(ada.client.accounts.byUsername('nobody_by_this_name'));
    expect(nobody).toMatchObject({ code: 'NOT_FOUND', status: 404 });

    const taken = await rejection(
      sdkClient(node.url).accounts.register({ username: ada.username, password: PASSWORD }),
    );
    expect(taken).toMatchObject({ code: 'CONFLICT', status: 409 });
    expect(taken.detail).toEqual(expect.any(String));
    expect(taken.retryable).toBe(false);
  });

  it('reports no answer as NETWORK (status 0), retryable', async () => {
    const error = await rejection(sdkClient('http://127.0.0.1:9').accounts.login({ username: 'x', password: 'y' }));
    expect(error).toMatchObject({ code: 'NETWORK', status: 0, retryable: true });
  });
});

describe('the SDK and rate limits', () => {
  let redis: RedisChild;
  let limited: TestServer;
  beforeAll(async () => {
    // A private Redis: the limits count per client address, and every test here is 127.0.0.1.
    redis = await startRedisChild();
    limited = await startServer({ REDIS_URL: redis.url, RATE_LIMIT_ENABLED: 'true', LOGIN_ACCOUNT_MAX_FAILURES: '2' });
  });
  afterAll(async () => {
    await limited?.close();
    await redis?.close();
  });

  it('throws RATE_LIMITED with retryAfter in seconds once an account is locked', async () => {
    const ada = await sdkUser(limited.url, 'ada');
    const client = sdkClient(limited.url);
    for (let i = 0; i < 2; i++) {
      expect((await rejection(client.accounts.login({ username: ada.username, password: 'wrong-pass' }))).status).toBe(
        401,
      );
    }
    const locked = await rejection(client.accounts.login({ username: ada.username, password: PASSWORD }));
    expect(locked).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryable: true });
    expect(locked.retryAfter).toBeGreaterThan(0);
  });
});
