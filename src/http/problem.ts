import type { Context } from 'hono';
import { AppError, type ErrorCode, statusForCode, titleForCode, type ValidationIssue } from '../domain/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  issues?: ValidationIssue[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Builds the one error body every failure uses (RFC 9457 problem details plus a stable code). */
export function toProblem(error: AppError, requestId: string): Problem {
  return {
    type: `https://switchboard.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: titleForCode(error.code),
    status: statusForCode(error.code),
    detail: error.message,
    code: error.code,
    requestId,
    ...(error.issues ? { issues: error.issues } : {}),
  };
}

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
