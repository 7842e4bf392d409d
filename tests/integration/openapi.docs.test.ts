import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { type ApiClient, apiClient } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

type Doc = any;

/** Every route of the API v1 contract: [method, OpenAPI path, needs a bearer token]. */
const CONTRACT: Array<[string, string, boolean]> = [
  ['post', '/users', false],
  ['post', '/auth/token', false],
  ['post', '/auth/refresh', false],
  ['get', '/users/me', true],
  ['get', '/users/{userId}', true],
  ['post', '/groups', true],
  ['get', '/groups/{groupId}', true],
  ['get', '/groups/{groupId}/members', true],
  ['post', '/groups/{groupId}/members', true],
  ['delete', '/groups/{groupId}/members/{userId}', true],
  ['post', '/messages', true],
  ['get', '/messages', true],
  ['post', '/conversations/{conversationId}/receipts', true],
  ['get', '/conversations/{conversationId}/receipts', true],
];

describe('the OpenAPI document and the docs page', () => {
  let server: TestServer;
  let api: ApiClient;
  let doc: Doc;

  beforeAll(async () => {
    server = await startServer({ GROUP_MAX_MEMBERS: '321' });
    api = apiClient(server.url);
    const response = await api.get('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    doc = response.body;
  });
  afterAll(async () => server?.close());

  const schemaOf = (ref: { $ref?: string } & Doc): Doc =>
    ref.$ref ? doc.components.schemas[ref.$ref.replace('#/components/schemas/', '')] : ref;
  const requestSchema = (method: string, path: string) =>
    schemaOf(doc.paths[path][method].requestBody.content['application/json'].schema);

  it('is served as JSON without a token, as OpenAPI 3.1 under /api/v1', async () => {
    const response = await api.get('/api/v1/openapi.json');
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: '/api/v1' }]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('lists every route of the contract, with bearer security exactly where a token is needed', () => {
    for (const [method, path, secured] of CONTRACT) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      if (secured) expect(operation.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      else expect(operation.security, `${method} ${path}`).toBeUndefined();
    }
  });

  it('documents errors as application/problem+json with the Problem schema', () => {
    const problem = doc.components.schemas.Problem;
    expect(problem.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'requestId']),
    );
    expect(problem.properties.code.enum).toEqual(
      expect.arrayContaining(['VALIDATION_FAILED', 'NOT_FOUND', 'CONFLICT']),
    );
    for (const [method, path, secured] of CONTRACT) {
      const responses = doc.paths[path][method].responses;
      const errorStatuses = Object.keys(responses).filter((status) => Number(status) >= 400);
      expect(errorStatuses.length, `${method} ${path}`).toBeGreaterThan(0);
      if (secured) expect(errorStatuses, `${method} ${path}`).toContain('401');
      for (const status of errorStatuses) {
        expect(Object.keys(responses[status].content), `${method} ${path} ${status}`).toEqual([
          'application/problem+json',
        ]);
      }
      if (doc.paths[path][method].requestBody) expect(errorStatuses).toEqual(expect.arrayContaining(['413', '415']));
      // Every /api/v1 route is rate limited and needs a store.
      expect(errorStatuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '429', '503']));
      expect(responses['429'].headers['Retry-After'], `${method} ${path}`).toMatchObject({ required: true });
    }
  });

  it('describes the error responses the server really sends: 401 and 404 as the Problem schema says', async () => {
    const unauthenticated = await fetch(`${server.url}/api/v1/groups`, { headers: { 'x-request-id': 'doc-check-1' } });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('content-type')).toBe('application/problem+json');
    expect(unauthenticated.headers.get('www-authenticate')).toBe('Bearer');
    expect(unauthenticated.headers.get('x-request-id')).toBe('doc-check-1');
    const body = (await unauthenticated.json()) as Record<string, unknown>;
    const { properties, required } = doc.components.schemas.Problem;
    expect(Object.keys(body).every((key) => key in properties)).toBe(true);
    for (const key of required) expect(body, key).toHaveProperty(key);
    expect(properties.code.enum).toContain(body.code);
  });

  it('generates request schemas from the same zod schemas that validate requests', () => {
    const send = requestSchema('post', '/messages');
    expect(send.properties.content).toMatchObject({ minLength: 1, maxLength: 4000 });
    expect(send.additionalProperties).toBe(false);
    const register = requestSchema('post', '/users');
    expect(register.properties.username).toMatchObject({ minLength: 3, maxLength: 32 });
    expect(register.properties.password).toMatchObject({ minLength: 8, maxLength: 128 });
    expect(register.required).toEqual(['username', 'password']);
    // GROUP_MAX_MEMBERS of this server flows into the document (less the owner's own place).
    expect(requestSchema('post', '/groups').properties.memberIds).toMatchObject({ maxItems: 320, uniqueItems: true });
    expect(send.oneOf).toEqual([{ required: ['receiverId'] }, { required: ['groupId'] }]);
    expect(send.properties.content.pattern).toBeDefined();
    const receipt = requestSchema('post', '/conversations/{conversationId}/receipts');
    expect(receipt.properties.status.enum).toEqual(['delivered', 'read']);
    const parameters = Object.fromEntries(
      doc.paths['/messages'].get.parameters.map((parameter: Doc) => [parameter.name, parameter]),
    );
    expect(Object.keys(parameters).sort()).toEqual(
      ['after', 'before', 'conversationId', 'from', 'groupId', 'limit', 'peerId', 'to'].sort(),
    );
    expect(parameters.limit.schema).toMatchObject({ minimum: 1, maximum: 100, default: 50 });
    expect(doc.paths['/messages'].post.parameters.map((parameter: Doc) => parameter.name)).toContain('idempotency-key');
  });

  it('describes the response shapes of the contract', () => {
    const { User, Group, GroupMember, Message, Receipt } = doc.components.schemas;
    expect(Object.keys(User.properties).sort()).toEqual(['createdAt', 'displayName', 'id', 'username']);
    expect(Object.keys(Group.properties).sort()).toEqual([
      'createdAt',
      'description',
      'id',
      'memberCount',
      'name',
      'ownerId',
    ]);
    expect(Object.keys(GroupMember.properties).sort()).toEqual(['joinedAt', 'role', 'userId']);
    expect(Object.keys(Message.properties).sort()).toEqual(
      [
        'clientTimestamp',
        'content',
        'conversationId',
        'createdAt',
        'deletedAt',
        'editedAt',
        'groupId',
        'id',
        'reactions',
        'receiverId',
        'replyToId',
        'senderId',
        'status',
        'thread',
        'threadId',
      ].sort(),
    );
    expect(doc.paths['/conversations/{conversationId}/messages/{rootId}/thread'].get.responses['200']).toBeDefined();
    expect(Object.keys(doc.components.schemas.ThreadSummary.properties).sort()).toEqual([
      'lastReplyAt',
      'lastReplyId',
      'replyCount',
    ]);
    expect(Message.properties.status.enum).toEqual(['sent', 'delivered', 'read']);
    expect(Object.keys(Receipt.properties).sort()).toEqual(['conversationId', 'deliveredUpTo', 'readUpTo', 'userId']);
    const sendResponses = doc.paths['/messages'].post.responses;
    expect(Object.keys(sendResponses)).toEqual(expect.arrayContaining(['200', '201']));
  });

  it('documents only routes that exist: each answers something other than "no route"', async () => {
    for (const [method, path] of Object.entries<Doc>(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => [method, path] as const),
    )) {
      const concrete = `/api/v1${path.replace(/\{[^}]+\}/g, newId())}`;
      const response = await api.request(
        method.toUpperCase(),
        concrete,
        method === 'get' || method === 'delete' ? {} : { body: {} },
      );
      const noRoute = response.status === 404 && String(response.body?.detail).startsWith('No route');
      expect(noRoute, `${method} ${path}`).toBe(false);
    }
  });

  it('documents the token lifecycle: sign-in shape, refresh, logout with an optional bearer token', () => {
    const { AuthResult } = doc.components.schemas;
    expect(AuthResult.required).toEqual(expect.arrayContaining(['user', 'token', 'refreshToken', 'expiresIn']));
    expect(AuthResult.properties.expiresIn.type).toBe('integer');
    for (const [method, path, status] of [
      ['post', '/users', '201'],
      ['post', '/auth/token', '200'],
      ['post', '/auth/refresh', '200'],
    ] as const) {
      const responses = doc.paths[path][method].responses;
      expect(schemaOf(responses[status].content['application/json'].schema), path).toBe(AuthResult);
      expect(Object.keys(responses), path).toEqual(expect.arrayContaining(['400', '413', '415', '429', '503']));
    }
    expect(Object.keys(doc.paths['/auth/refresh'].post.responses)).toContain('401');
    expect(requestSchema('post', '/auth/refresh').required).toEqual(['refreshToken']);
    const logout = doc.paths['/auth/logout'].post;
    // `{ refreshToken }` needs no bearer token, `{ all: true }` does: optional security.
    expect(logout.security).toEqual([{}, { bearerAuth: [] }]);
    expect(Object.keys(logout.responses).sort()).toEqual(['204', '400', '401', '413', '415', '429', '500', '503']);
    expect(Object.keys(requestSchema('post', '/auth/logout').properties).sort()).toEqual(['all', 'refreshToken']);
  });

  it('serves a browsable reference at /docs that loads the document', async () => {
    const response = await fetch(`${server.url}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html.toLowerCase()).toContain('<html');
    // The page's start-up script (a file of its own: the page's CSP forbids inline script) loads the document.
    const init = /<script src="([^"]*init\.js)"/.exec(html)?.[1];
    expect(init).toBeDefined();
    expect(await (await fetch(`${server.url}${init}`)).text()).toContain("url: '/api/v1/openapi.json'");
  });
});
