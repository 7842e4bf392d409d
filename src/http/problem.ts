import type { Context } from 'hono';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../api-shapes/problem.js';
import { AppError, type ValidationIssue } from '../domain/errors.js';

// The problem body is shared with the WebSocket gateway's refused upgrades (api-shapes/).
export { PROBLEM_CONTENT_TYPE, type Problem, toProblem } from '../api-shapes/problem.js';

export function problemResponse(c: Context, error: AppError): Response {
  const requestId = (c.get('requestId') as string | undefined) ?? 'unknown';
  const problem = toProblem(error, requestId);
  return c.body(JSON.stringify(problem), problem.status as 400, {
    'Content-Type': PROBLEM_CONTENT_TYPE,
  });
}

/** zod issues → `{ path, message }` with dotted paths ("body.memberIds.3"). */
export function issuesFrom(
  zodIssues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix: string,
): ValidationIssue[] {
  return zodIssues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

export const validationError = (issues: ValidationIssue[]) =>
  new AppError('VALIDATION_FAILED', issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '), { issues });
