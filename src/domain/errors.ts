/**
 * The one error vocabulary of Switchboard. Services throw AppError with one of these codes; the
 * HTTP layer maps each code to a status (exhaustively) and the WebSocket gateway reuses the codes
 * in its error frames.
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'MALFORMED_JSON',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'HEADERS_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ValidationIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly issues: ValidationIssue[] | undefined;

  constructor(code: ErrorCode, message: string, options: { issues?: ValidationIssue[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.issues = options.issues;
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;

/** HTTP status for each code; the switch is exhaustive so a new code cannot be forgotten. */
export function statusForCode(
  code: ErrorCode,
): 400 | 401 | 403 | 404 | 405 | 408 | 409 | 413 | 415 | 429 | 431 | 500 | 503 {
  switch (code) {
    case 'VALIDATION_FAILED':
    case 'MALFORMED_JSON':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'HEADERS_TOO_LARGE':
      return 431;
    case 'REQUEST_TIMEOUT':
      return 408;
    case 'RATE_LIMITED':
      return 429;
    case 'UNAVAILABLE':
      return 503;
    case 'INTERNAL':
      return 500;
  }
}

/** Human title for each code, used as the problem+json `title`. */
export function titleForCode(code: ErrorCode): string {
  switch (code) {
    case 'VALIDATION_FAILED':
      return 'Request validation failed';
    case 'MALFORMED_JSON':
      return 'Malformed JSON body';
    case 'UNAUTHENTICATED':
      return 'Authentication required';
    case 'FORBIDDEN':
      return 'Forbidden';
    case 'NOT_FOUND':
      return 'Not found';
    case 'METHOD_NOT_ALLOWED':
      return 'Method not allowed';
    case 'CONFLICT':
      return 'Conflict';
    case 'PAYLOAD_TOO_LARGE':
      return 'Payload too large';
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'Unsupported media type';
    case 'HEADERS_TOO_LARGE':
      return 'Request header fields too large';
    case 'REQUEST_TIMEOUT':
      return 'Request timeout';
    case 'RATE_LIMITED':
      return 'Too many requests';
    case 'UNAVAILABLE':
      return 'Service unavailable';
    case 'INTERNAL':
      return 'Internal server error';
  }
}
