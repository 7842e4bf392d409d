import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConnectionState, Message, Receipt, SwitchboardClient } from '../../src/client/index.js';
import { localStorageCursorStore } from '../../src/client/index.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { sdkClient, sdkUser, until } from '../support/sdk.js';
import { startServer, type TestServer } from '../support/server.js';
import { CATCH_UP_WITHIN_MS } from '../support/sync.js';
import { claimsOf, signToken } from '../support/tokens.js';

/** The SDK's sync loop against real nodes: live, across a node going away, resync, token refresh. */
const servers: TestServer[] = [];
const redises: RedisChild[] = [];
const clients: SwitchboardClient[] = [];

async function server(overrides: Record<string, string> = {}) {
  const started = await startServer(overrides);
  servers.push(started);
  return started;
}

/** Records what a client's sync loop hands out. */
function watch(client: SwitchboardClient) {
  clients.push(client);
  const got = {
    messages: [] as Array<{ message: Message; source: string }>,
    statuses: [] as Receipt[],
    states: [] as ConnectionState[],
    resyncs: 0,
    has: (id: string) => got.messages.some((m) => m.message.id === id),
  };
  client.sync.on('message', (message, { source }) => got.messages.push({ message, source }));
  client.sync.on('status', (receipt) => got.statuses.push(receipt));
  client.sync.on('connection', (state) => got.states.push(state));
  client.sync.on('resync', () => {
    got.resyncs++;
  });
  return got;
}

const fast = { reconnect: { initialMs: 100, maxMs: 1_000 } };

afterEach(() => {
  for (const client of clients.splice(0)) client.sync.stop();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(redises.map((r) => r.close()));
});

describe('the SDK sync loop', () => {
  it('delivers live, once per id, and acks so the sender sees delivered; presence and typing arrive as events', async () => {
    const node = await server();
    const ada = await sdkUser(node.url, 'ada', fast);
    const bob = await sdkUser(node.url, 'bob', fast);
    const { message: hello } = await bob.client.messages.send({ receiverId: ada.id, content: 'before' });
    const adaGot = watch(ada.client);
    const bobGot = watch(bob.client);
    const presence: string[] = [];
    const typing: string[] = [];
    ada.client.sync.on('presence', (p) => presence.push(`${p.userId}:${p.status}`));
    ada.client.sync.on('typing', (t) => typing.push(t.userId));
    ada.client.sync.subscribePresence([bob.id]);
    ada.client.sync.start();
    bob.client.sync.start();
    await Promise.all([ada.client.sync.whenLive(), bob.client.sync.whenLive()]);
    // The message from before the connection came by catch-up (after=00…0, no cursor yet).
    await until(() => adaGot.has(hello.id), 'the earlier message');
    expect(adaGot.messages.find((m) => m.message.id === hello.id)?.source).toBe('catch-up');

    const { message } = await bob.client.messages.send({ receiverId: ada.id, content: 'live one' });
    await until(() => adaGot.has(message.id), 'the live message');
    expect(adaGot.messages.find((m) => m.message.id === message.id)?.source).toBe('live');
    await until(() => bobGot.statuses.some((s) => s.userId === ada.id && s.deliveredUpTo === message.id), 'the ack');
    await until(() => presence.includes(`${bob.id}:online`), 'presence online');
    expect(bob.client.sync.typing(message.conversationId)).toBe(true);
    await until(() => typing.includes(bob.id), 'typing');
    expect(adaGot.messages.filter((m) => m.message.id === message.id)).toHaveLength(1);
  });

  it('reconnects to another node when its node shuts down (1001) and catches up what was sent meanwhile', async () => {
    const [a, b] = await Promise.all([server(), server()]);
    let current = a.url;
    const ada = await sdkUser(() => current, 'ada', fast);
    const bob = await sdkUser(b.url, 'bob', fast);
    const got = watch(ada.client);
    ada.client.sync.start();
    await ada.client.sync.whenLive();
    current = b.url;
    const closing = a.close();
    servers.splice(servers.indexOf(a), 1);
    const { message } = await bob.client.messages.send({ receiverId: ada.id, content: 'while you were away' });
    await closing;
    await until(() => got.has(message.id), 'the message sent during the switch', CATCH_UP_WITHIN_MS);
    await until(() => ada.client.sync.state === 'live', 'live again');
    expect(got.states).toContain('offline');
    const { message: after } = await bob.client.messages.send({ receiverId: ada.id, content: 'on the new node' });
    await until(() => got.has(after.id), 'live delivery on the new node');
  });

  it('catches up after a Redis outage (resync or reconnect): the message whose publish was given up arrives', async () => {
    const redis = await startRedisChild();
    redises.push(redis);
    const node = await server({ REDIS_URL: redis.url });
    const ada = await sdkUser(node.url, 'ada', fast);
    const bob = await sdkUser(node.url, 'bob', fast);
    const got = watch(ada.client);
    ada.client.sync.start();
    await ada.client.sync.whenLive();
    await redis.stop();
    // Redis never fails a send: 201, but nobody hears about it live.
    const { message } = await bob.client.messages.send({ receiverId: ada.id, content: 'into the gap' });
    // Longer than the publish retries (100 + 400 + 1,600 ms): the publish is given up, so only the
    // resync and the catch-up it triggers can bring the message.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await redis.start();
    await until(() => got.has(message.id), 'the message after resync', CATCH_UP_WITHIN_MS);
    // The node tells the gap with a resync frame, or (Redis away long enough) closes and the
    // reconnect catches up: either way the loop, not live delivery, brought the message.
    await until(() => got.resyncs > 0 || got.states.includes('offline'), 'a resync frame or a reconnect');
    expect(got.messages.find((m) => m.message.id === message.id)?.source).toBe('catch-up');
  });

  it('refreshes the token when the upgrade is refused and when the server closes with 1008 at expiry', async () => {
    const node = await server({ WS_SESSION_CHECK_MS: '1000' });
    const ada = await sdkUser(node.url, 'ada', fast);
    const bob = await sdkUser(node.url, 'bob', fast);
    const { token, refreshToken } = ada.client.tokens() ?? { token: '', refreshToken: null };
    const claims = claimsOf(token);
    const now = Math.floor(Date.now() / 1000);
    // Valid for two more seconds: accepted at the upgrade, then closed with 1008 when it expires.
    const expiring = signToken({ ...claims, iat: now, exp: now + 2 });
    const refreshed: string[] = [];
    const client = sdkClient(node.url, {
      ...fast,
      tokens: { token: expiring, refreshToken },
      onTokens: (next) => refreshed.push(next?.token ?? 'signed out'),
    });
    const got = watch(client);
    const closes: number[] = [];
    client.sync.on('connection', (state) => state === 'offline' && closes.push(Date.now()));
    client.sync.start();
    await client.sync.whenLive();
    await until(() => refreshed.length === 1, 'the refresh after 1008', 15_000);
    await until(() => client.sync.state === 'live', 'live again with the new token');
    const { message } = await bob.client.messages.send({ receiverId: ada.id, content: 'after refresh' });
    await until(() => got.has(message.id), 'delivery after the refresh');

    // An upgrade refused outright (expired token): /users/me refreshes, the next connect works.
    const expired = signToken({ ...claims, iat: now - 3600, exp: now - 1800 });
    const other = sdkClient(node.url, {
      ...fast,
      tokens: { token: expired, refreshToken: client.tokens()?.refreshToken ?? null },
    });
    const otherGot = watch(other);
    other.sync.start();
    await until(() => other.sync.state === 'live', 'live after the refused upgrade', 15_000);
    expect(otherGot.states[0]).toBe('connecting');
    expect(otherGot.states).toContain('offline');
    expect(closes.length).toBeGreaterThan(0);
  });

  it('stops as signed-out when the refresh token is refused', async () => {
    const node = await server();
    const ada = await sdkUser(node.url, 'ada', fast);
    const expired = signToken({ ...claimsOf(ada.client.tokens()?.token ?? ''), exp: 1 });
    const client = sdkClient(node.url, { ...fast, tokens: { token: expired, refreshToken: 'not-a-refresh-token' } });
    watch(client);
    client.sync.start();
    await until(() => client.sync.state === 'signed-out', 'signed-out');
    expect(client.tokens()).toBeUndefined();
  });

  it('resumes from persisted cursors: a second run replays nothing it already had', async () => {
    const node = await server();
    const ada = await sdkUser(node.url, 'ada', fast);
    const bob = await sdkUser(node.url, 'bob', fast);
    const map = new Map<string, string>();
    const storage = { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => map.set(k, v) };
    const { message: first } = await bob.client.messages.send({ receiverId: ada.id, content: 'first' });
    const run1 = sdkClient(node.url, {
      ...fast,
      tokens: ada.client.tokens() as never,
      cursorStore: localStorageCursorStore(storage),
    });
    const got1 = watch(run1);
    run1.sync.start();
    await until(() => got1.has(first.id), 'first run');
    await until(
      () => JSON.parse(map.get(`switchboard:sync:${ada.id}`) ?? '{}').syncCursor !== undefined,
      'saved cursors',
    );
    run1.sync.stop();

    const { message: second } = await bob.client.messages.send({ receiverId: ada.id, content: 'second' });
    const run2 = sdkClient(node.url, {
      ...fast,
      tokens: run1.tokens() as never,
      cursorStore: localStorageCursorStore(storage),
    });
    const got2 = watch(run2);
    run2.sync.start();
    await until(() => got2.has(second.id), 'second run', CATCH_UP_WITHIN_MS);
    expect(got2.has(first.id)).toBe(false);
  });

  it('hands out edits and deletes as changed: live while connected, and from catch-up after being away (a conversation caught up from its start returns the deleted message itself)', async () => {
    const node = await server();
    const ada = await sdkUser(node.url, 'ada', fast);
    const bob = await sdkUser(node.url, 'bob', fast);
    const changed: Array<{ id: string; content: string | null; source: string }> = [];
    ada.client.sync.on('changed', (message, { source }) =>
      changed.push({ id: message.id, content: message.content, source }),
    );
    const got = watch(ada.client);
    ada.client.sync.start();
    await ada.client.sync.whenLive();
    const { message } = await bob.client.messages.send({ receiverId: ada.id, content: 'tpyo' });
    await until(() => got.has(message.id), 'the message');
    const path = '/conversations/{conversationId}/messages/{messageId}' as const;
    const params = { path: { conversationId: message.conversationId, messageId: message.id } };
    await bob.client.call('patch', path, { ...params, body: { content: 'typo' } });
    await until(() => changed.some((c) => c.content === 'typo' && c.source === 'live'), 'the live edit');

    ada.client.sync.stop();
    await bob.client.call('delete', path, params);
    ada.client.sync.start();
    await until(
      () => changed.some((c) => c.id === message.id && c.content === null && c.source === 'catch-up'),
      'the delete, through catch-up',
      CATCH_UP_WITHIN_MS,
    );
  });
});
