import type { Session } from './session.js';
import type { Transport } from './transport.js';
import type { CallOptions, MethodsOf, Operation, Path, paths, QueryOf, SuccessOf } from './types.js';

type Call<P extends Path, M extends MethodsOf<P>> = SuccessOf<Operation<P, M>>;
type Body<P extends Path, M extends MethodsOf<P>> = NonNullable<CallOptions<Operation<P, M>>['body']>;
type Query<P extends Path, M extends MethodsOf<P>> = NonNullable<QueryOf<Operation<P, M>>>;

/** Operations where signing in is not needed (the server's PUBLIC_API_ROUTES). */
const PUBLIC = new Set(['post /users', 'post /auth/token', 'post /auth/refresh']);

/** A random idempotency key: crypto.randomUUID exists in browsers (secure contexts) and Node ≥ 19. */
const newKey = () => globalThis.crypto.randomUUID();

/**
 * Typed REST calls. `call` reaches every operation of the OpenAPI document by its path and method
 * (an endpoint added on the server is callable, typed, as soon as the types are regenerated); the
 * named methods below are the same calls with friendlier arguments.
 */
export function createRest(transport: Transport, session: Session) {
  function call<P extends Path, M extends MethodsOf<P>>(
    method: M,
    path: P,
    options: CallOptions<Operation<P, M>> = {},
  ): Promise<Call<P, M>> {
    return transport(method, path, {
      ...(options as object),
      auth: !PUBLIC.has(`${method} ${path}`),
    }) as Promise<Call<P, M>>;
  }

  const signedIn = async <T extends { token: string; refreshToken: string }>(result: Promise<T>) => {
    const value = await result;
    session.adopt(value as never);
    return value;
  };

  return {
    call,
    accounts: {
      /** Creates the account and signs the client in with it. */
      register: (body: Body<'/users', 'post'>) => signedIn(call('post', '/users', { body })),
      /** Signs in (the pair is kept by the client and handed to `onTokens`). */
      login: (body: Body<'/auth/token', 'post'>) => signedIn(call('post', '/auth/token', { body })),
      /** Ends this session (or, with `{ all: true }`, every session of the user) and forgets the tokens. */
      async logout(options: { all?: boolean } = {}) {
        const refreshToken = session.current()?.refreshToken;
        if (options.all) await call('post', '/auth/logout', { body: { all: true } });
        else if (refreshToken) await call('post', '/auth/logout', { body: { refreshToken } });
        session.set(undefined);
      },
      me: () => call('get', '/users/me'),
      user: (userId: string) => call('get', '/users/{userId}', { path: { userId } }),
      /** Finds a user by the name they signed up with (case-insensitive); NOT_FOUND when nobody is. */
      byUsername: (username: string) => call('get', '/users/by-username/{username}', { path: { username } }),
    },
    messages: {
      /**
       * Sends a message with an idempotency key (a fresh one unless given): a send that got no
       * answer can be retried with the same key and never stores a second copy (200 instead of 201).
       */
      send: (body: Body<'/messages', 'post'>, options: { signal?: AbortSignal } = {}) =>
        call('post', '/messages', {
          body: { ...body, clientMessageId: body.clientMessageId ?? newKey() },
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      history: (query: Query<'/messages', 'get'>) => call('get', '/messages', { query }),
    },
    conversations: {
      inbox: (query: Query<'/conversations', 'get'> = {}) => call('get', '/conversations', { query }),
      receipts: (conversationId: string) =>
        call('get', '/conversations/{conversationId}/receipts', { path: { conversationId } }),
      markAs: (conversationId: string, body: Body<'/conversations/{conversationId}/receipts', 'post'>) =>
        call('post', '/conversations/{conversationId}/receipts', { path: { conversationId }, body }),
    },
    groups: {
      create: (body: Body<'/groups', 'post'>) => call('post', '/groups', { body }),
      list: () => call('get', '/groups'),
      get: (groupId: string) => call('get', '/groups/{groupId}', { path: { groupId } }),
      members: (groupId: string) => call('get', '/groups/{groupId}/members', { path: { groupId } }),
      addMember: (groupId: string, userId: string) =>
        call('post', '/groups/{groupId}/members', { path: { groupId }, body: { userId } }),
      /** Removes a member (owner) or, with the caller's own id, leaves the group. */
      removeMember: (groupId: string, userId: string) =>
        call('delete', '/groups/{groupId}/members/{userId}', { path: { groupId, userId } }),
    },
    presence: {
      of: (userIds: string[]) => call('get', '/presence', { query: { userIds: userIds.join(',') } }),
    },
  };
}

export type Rest = ReturnType<typeof createRest>;
export type { paths };
