import type { ErrorCode, Problem } from './types.js';

/**
 * Every failed call of the SDK throws this one class, whatever failed: a problem+json answer of
 * the server (its `code`, `status`, `detail`, `issues`, and `Retry-After` as `retryAfter` seconds)
 * or no answer at all (`code: 'NETWORK'`, `status: 0`). One class, so a caller writes one catch
 * with a switch on `code` instead of telling fetch's TypeError from a 503 by hand.
 */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';
  /** The server's stable code, or NETWORK when no answer came. */
  readonly code: ErrorCode | 'NETWORK';
  /** The HTTP status; 0 for NETWORK. */
  readonly status: number;
  readonly detail: string;
  /** Seconds to wait before trying again (the Retry-After header), when the server gave one. */
  readonly retryAfter: number | undefined;
  /** Which fields were wrong, for VALIDATION_FAILED. */
  readonly issues: Array<{ path: string; message: string }>;
  readonly requestId: string | undefined;

  constructor(init: {
    code: ErrorCode | 'NETWORK';
    status: number;
    detail: string;
    retryAfter?: number | undefined;
    issues?: Array<{ path: string; message: string }> | undefined;
    requestId?: string | undefined;
    cause?: unknown;
  }) {
    super(
      `${init.code} (${init.status}): ${init.detail}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.code = init.code;
    this.status = init.status;
    this.detail = init.detail;
    this.retryAfter = init.retryAfter;
    this.issues = init.issues ?? [];
    this.requestId = init.requestId;
  }

  /** Worth retrying as is (with the same idempotency key for a send): no answer, 429 or 5xx. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** The error of a non-2xx answer; a body that is not problem+json still gets a code from its status. */
export async function errorFromResponse(response: Response): Promise<SwitchboardError> {
  const retryAfterHeader = response.headers.get('retry-after');
  const retryAfter = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  let problem: Partial<Problem> | undefined;
  try {
    problem = (await response.json()) as Partial<Problem>;
  } catch {
    problem = undefined;
  }
  return new SwitchboardError({
    code: problem?.code ?? codeForStatus(response.status),
    status: response.status,
    detail: problem?.detail ?? response.statusText,
    retryAfter,
    issues: problem?.issues,
    requestId: problem?.requestId ?? response.headers.get('x-request-id') ?? undefined,
  });
}

/** For answers without a problem body (a proxy's 502 page, say). */
function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 429) return 'RATE_LIMITED';
  if (status >= 500) return status === 500 ? 'INTERNAL' : 'UNAVAILABLE';
  return 'VALIDATION_FAILED';
}

export const networkError = (cause: unknown) =>
  new SwitchboardError({
    code: 'NETWORK',
    status: 0,
    detail: cause instanceof Error ? cause.message : 'no answer from the server',
    cause,
  });
