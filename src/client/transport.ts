import { errorFromResponse, networkError, SwitchboardError } from './errors.js';
import type { Session } from './session.js';

export interface TransportCall {
  path?: Record<string, string> | undefined;
  query?: Record<string, unknown> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  /** false: send no bearer token and never refresh (sign-up, sign-in, refresh itself). */
  auth?: boolean;
}

export type Transport = (method: string, template: string, call?: TransportCall) => Promise<unknown>;

/** `/groups/{groupId}` with `{ groupId }` → `/groups/01J…` (each value URI-encoded). */
export function fillPath(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`missing path parameter ${name} of ${template}`);
    return encodeURIComponent(value);
  });
}

/** Query values as the server reads them: arrays comma-joined (userIds=a,b), undefined left out. */
export function queryString(query: Record<string, unknown> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    search.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * One HTTP call of the API: JSON in, JSON out, any non-2xx thrown as SwitchboardError. An
 * authenticated call answered 401 refreshes the tokens once and is sent again: the access token
 * lives 15 minutes, and without this every app would write the same "expired → refresh → retry"
 * dance around every call (and get it wrong under concurrency; see session.ts).
 */
export function createTransport(options: {
  baseUrl: () => string;
  fetch: typeof fetch;
  session: Session;
  /** Per request, unless the call brings its own signal. */
  timeoutMs?: number | undefined;
}): Transport {
  async function once(method: string, url: string, call: TransportCall, token: string | undefined) {
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method: method.toUpperCase(), headers };
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(call.body);
    }
    // Without a bound, one request to a node that stopped answering (not closed: stalled) would
    // hold a catch-up, and with it every later message, for as long as the TCP stack waits.
    init.signal = call.signal ?? AbortSignal.timeout(options.timeoutMs ?? 20_000);
    try {
      return await options.fetch(url, init);
    } catch (error) {
      throw networkError(error);
    }
  }

  return async (method, template, call = {}) => {
    const url = `${options.baseUrl().replace(/\/$/, '')}/api/v1${fillPath(template, call.path)}${queryString(call.query)}`;
    const auth = call.auth !== false;
    let response = await once(method, url, call, auth ? options.session.current()?.token : undefined);
    if (response.status === 401 && auth && (await options.session.refresh())) {
      response = await once(method, url, call, options.session.current()?.token);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return undefined;
    try {
      return await response.json();
    } catch (error) {
      throw new SwitchboardError({
        code: 'INTERNAL',
        status: response.status,
        detail: 'answer is not JSON',
        cause: error,
      });
    }
  };
}
