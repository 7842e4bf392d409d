import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, statusForCode, titleForCode } from '../../src/domain/errors.js';
import {
  issuesFrom,
  PROBLEM_CONTENT_TYPE,
  problemResponse,
  toProblem,
  validationError,
} from '../../src/http/problem.js';

describe('statusForCode', () => {
  it('maps every code of the closed set to its HTTP status', () => {
    const statuses = Object.fromEntries(ERROR_CODES.map((code) => [code, statusForCode(code)]));
    expect(statuses).toEqual({
      VALIDATION_FAILED: 400,
      MALFORMED_JSON: 400,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      METHOD_NOT_ALLOWED: 405,
      CONFLICT: 409,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      HEADERS_TOO_LARGE: 431,
      REQUEST_TIMEOUT: 408,
      RATE_LIMITED: 429,
      UNAVAILABLE: 503,
      INTERNAL: 500,
    });
  });

  it('gives every code a distinct human title', () => {
    const titles = ERROR_CODES.map(titleForCode);
    expect(new Set(titles).size).toBe(ERROR_CODES.length);
    for (const title of titles) expect(title.length).toBeGreaterThan(0);
  });
});

describe('toProblem', () => {
  it('renders the full envelope with a stable type URI per code', () => {
    const problem = toProblem(new AppError('NOT_FOUND', 'Group X does not exist'), 'req-1');
    expect(problem).toEqual({
      type: 'https://switchboard.dev/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: 'Group X does not exist',
      code: 'NOT_FOUND',
      requestId: 'req-1',
    });
  });

  it('adds issues only when there are some', () => {
    const withIssues = toProblem(
      new AppError('VALIDATION_FAILED', 'bad', { issues: [{ path: 'body.name', message: 'required' }] }),
      'r',
    );
    expect(withIssues.issues).toEqual([{ path: 'body.name', message: 'required' }]);
    expect('issues' in toProblem(new AppError('FORBIDDEN', 'no'), 'r')).toBe(false);
  });

  it('never carries the cause or a stack', () => {
    const problem = toProblem(new AppError('UNAVAILABLE', 'down', { cause: new Error('secret host 10.0.0.1') }), 'r');
    const text = JSON.stringify(problem);
    expect(text).not.toContain('10.0.0.1');
    expect(text).not.toContain('stack');
  });
});

describe('issuesFrom', () => {
  it('joins zod paths with dots under a prefix', () => {
    expect(
      issuesFrom(
        [
          { path: ['memberIds', 3], message: 'must be a ULID' },
          { path: [], message: 'give exactly one' },
        ],
        'body',
      ),
    ).toEqual([
      { path: 'body.memberIds.3', message: 'must be a ULID' },
      { path: 'body', message: 'give exactly one' },
    ]);
  });

  it('omits an empty prefix', () => {
    expect(issuesFrom([{ path: ['limit'], message: 'too big' }], '')).toEqual([{ path: 'limit', message: 'too big' }]);
  });
});

describe('validationError', () => {
  it('is VALIDATION_FAILED with a detail naming every issue', () => {
    const error = validationError([
      { path: 'query.limit', message: 'too big' },
      { path: 'query.from', message: 'bad date' },
    ]);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toBe('query.limit: too big; query.from: bad date');
    expect(error.issues).toHaveLength(2);
  });
});

describe('problemResponse', () => {
  it('answers application/problem+json with the status of the code and the request id', async () => {
    const app = new Hono<{ Variables: { requestId: string } }>();
    app.get('/', (c) => {
      c.set('requestId', 'abc');
      return problemResponse(c, new AppError('CONFLICT', 'taken'));
    });
    const response = await app.request('/');
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
    expect(await response.json()).toMatchObject({ code: 'CONFLICT', status: 409, requestId: 'abc', detail: 'taken' });
  });
});
