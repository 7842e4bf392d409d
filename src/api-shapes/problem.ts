import { type AppError, type ErrorCode, statusForCode, titleForCode, type ValidationIssue } from '../domain/errors.js';

/**
 * The one error body (RFC 9457 problem details plus a stable code), shared by HTTP responses and
 * the WebSocket gateway's refused upgrades, so a client parses one shape whichever it hit.
 */
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

/** Builds the problem body of an error. */
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
