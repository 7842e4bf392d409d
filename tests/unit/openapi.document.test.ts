import { beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../src/http/openapi-document.js';
import { INSTANT_PATTERN, NOT_ONLY_WHITESPACE_PATTERN } from '../../src/http/schemas.js';

/** The document is walked as plain JSON (as in tests/integration/openapi.docs.test.ts). */
type Doc = any;

/**
 * The rules the validators enforce, as the OpenAPI document states them, so a client (or
 * schemathesis, see docker/native/fuzz.sh) that follows the document is never refused with 400.
 * No handler runs: the services are empty fakes.
 */
function documentOf(maxGroupMembers = 1000): Promise<Doc> {
  return buildOpenApiDocument({ maxGroupMembers, bodyLimitBytes: 64 * 1024 });
}

describe('the OpenAPI document states what the validators enforce', () => {
  it('says a group PATCH needs a field, a block PUT takes no body, and which roles exist', async () => {
    const doc = await documentOf();
    const update = doc.components.schemas.UpdateGroupRequest;
    expect(update).toMatchObject({ type: 'object', minProperties: 1, additionalProperties: false });
    expect(Object.keys(update.properties).sort()).toEqual(['description', 'name']);
    expect(doc.paths['/users/me/blocks/{userId}'].put.requestBody).toBeUndefined();
    expect(doc.components.schemas.MemberRole.enum).toEqual(['owner', 'admin', 'member']);
  });

  let doc: Doc;
  beforeAll(async () => {
    doc = await documentOf(321);
  });

  const component = (name: string) => doc.components.schemas[name];
  const operations = (): Array<[string, string, Doc]> =>
    Object.entries<Doc>(doc.paths).flatMap(([path, methods]) =>
      Object.entries<Doc>(methods).map(([method, operation]) => [method, path, operation] as [string, string, Doc]),
    );

  it('says POST /messages takes exactly one of receiverId and groupId (oneOf)', () => {
    const send = component('SendMessageRequest');
    expect(send.oneOf).toEqual([{ required: ['receiverId'] }, { required: ['groupId'] }]);
    expect(send.additionalProperties).toBe(false);
    expect(send.required).toEqual(['content']);
  });

  it('says message content is 1–4000 code points with a non-whitespace character', () => {
    const content = component('SendMessageRequest').properties.content;
    expect(content).toMatchObject({ minLength: 1, maxLength: 4000, pattern: NOT_ONLY_WHITESPACE_PATTERN });
    expect(content.description).toMatch(/lone surrogates/);
  });

  it('gives trimmed free text a pattern that refuses only-whitespace', () => {
    expect(component('CreateGroupRequest').properties.name).toMatchObject({
      minLength: 1,
      maxLength: 100,
      pattern: NOT_ONLY_WHITESPACE_PATTERN,
    });
    expect(component('RegisterRequest').properties.displayName).toMatchObject({
      minLength: 1,
      maxLength: 64,
      pattern: NOT_ONLY_WHITESPACE_PATTERN,
    });
  });

  it('says memberIds are distinct and leave room for the owner', () => {
    const memberIds = component('CreateGroupRequest').properties.memberIds;
    expect(memberIds).toMatchObject({ type: 'array', uniqueItems: true, maxItems: 320 });
  });

  it('gives the presence userIds list a pattern', () => {
    const [userIds] = doc.paths['/presence'].get.parameters;
    expect(userIds).toMatchObject({ name: 'userIds', in: 'query', required: true });
    const pattern = new RegExp(userIds.schema.pattern);
    const a = '01JD3W6YQ7R5S3T2V1X0Z9Y8W7';
    const b = '01JD3W7B1C2D3E4F5G6H7J8K9M';
    for (const ok of [a, `${a},${b}`, ` ${a} , ${b} `, `,${a},,${b},`, `${a},${a}`]) {
      expect(pattern.test(ok), ok).toBe(true);
    }
    for (const bad of ['', ',', ' ', 'nope', `${a},nope`, `${a}x`, `${a} ${b}`, a.toLowerCase()]) {
      expect(pattern.test(bad), bad).toBe(false);
    }
    expect(pattern.test(Array.from({ length: 100 }, () => a).join(','))).toBe(true);
    expect(pattern.test(Array.from({ length: 101 }, () => a).join(','))).toBe(false);
  });

  it('documents the rules between GET /messages parameters in their descriptions', () => {
    const parameters = Object.fromEntries(
      doc.paths['/messages'].get.parameters.map((parameter: Doc) => [parameter.name, parameter]),
    );
    for (const name of ['peerId', 'groupId', 'conversationId']) {
      expect(parameters[name].description, name).toContain('exactly one of peerId, groupId and conversationId');
    }
    expect(parameters.before.description).toContain('Not together with after');
    expect(parameters.after.description).toContain('Not together with before');
    expect(parameters.from.schema.pattern).toBe(INSTANT_PATTERN);
    expect(parameters.to.schema.pattern).toBe(INSTANT_PATTERN);
    expect(parameters.limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 50 });
  });

  it('documents 401 with WWW-Authenticate on every operation that needs a token', () => {
    const secured = operations().filter(([, , operation]) => operation.security);
    expect(secured.length).toBeGreaterThan(10);
    for (const [method, path, operation] of secured) {
      const unauthorized = operation.responses['401'];
      expect(unauthorized, `${method} ${path}`).toBeDefined();
      expect(unauthorized.headers['WWW-Authenticate'].required, `${method} ${path}`).toBe(true);
    }
  });

  it('documents 400, 429 (with Retry-After), 500 and 503 on every operation', () => {
    for (const [method, path, operation] of operations()) {
      const { responses } = operation;
      for (const status of ['400', '429', '500', '503'])
        expect(responses[status], `${method} ${path} ${status}`).toBeDefined();
      expect(responses['429'].headers['Retry-After'].required, `${method} ${path}`).toBe(true);
      expect(responses['503'].headers['Retry-After'].required, `${method} ${path}`).toBe(true);
    }
  });

  it('documents 413 and 415 on every operation with a body', () => {
    for (const [method, path, operation] of operations().filter(([, , operation]) => operation.requestBody)) {
      expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
    }
  });

  it('describes every error as application/problem+json with the exact Problem fields, and X-Request-Id on every response', () => {
    for (const [method, path, operation] of operations()) {
      for (const [status, response] of Object.entries<Doc>(operation.responses)) {
        expect(response.headers?.['X-Request-Id']?.required, `${method} ${path} ${status}`).toBe(true);
        if (Number(status) < 400) continue;
        expect(response.content, `${method} ${path} ${status}`).toEqual({
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        });
      }
    }
    const problem = component('Problem');
    expect(Object.keys(problem.properties).sort()).toEqual(
      ['code', 'detail', 'issues', 'requestId', 'status', 'title', 'type'].sort(),
    );
    expect(problem.required.sort()).toEqual(['code', 'detail', 'requestId', 'status', 'title', 'type'].sort());
    expect(problem.additionalProperties).toBe(false);
    expect(problem.properties.issues.items).toMatchObject({
      required: ['path', 'message'],
      additionalProperties: false,
    });
  });
});
