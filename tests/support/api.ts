import { randomBytes } from 'node:crypto';

/** A small HTTP client for tests: JSON in, status + headers + parsed body out. */
export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export function apiClient(baseUrl: string) {
  async function request<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; token?: string; headers?: Record<string, string>; rawBody?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }
  return {
    request,
    get: <T = any>(path: string, token?: string) => request<T>('GET', path, token ? { token } : {}),
    post: <T = any>(path: string, body: unknown, token?: string, headers?: Record<string, string>) =>
      request<T>('POST', path, { body, ...(token ? { token } : {}), ...(headers ? { headers } : {}) }),
    delete: <T = any>(path: string, token?: string) => request<T>('DELETE', path, token ? { token } : {}),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

export interface TestUser {
  id: string;
  username: string;
  token: string;
}

/** A unique, valid username for this run. */
export const uniqueUsername = (prefix = 'u') => `${prefix}_${randomBytes(6).toString('hex')}`;

/** Registers a fresh user through the API. */
export async function registerUser(api: ApiClient, prefix = 'u'): Promise<TestUser> {
  const username = uniqueUsername(prefix);
  const response = await api.post('/api/v1/users', { username, password: 'correct-horse-battery' });
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: response.body.user.id, username, token: response.body.token };
}

/** Asserts the shape of the one error format; returns the problem body. */
export function expectProblem(response: ApiResponse, status: number, code: string) {
  const problem = response.body;
  const ok =
    response.status === status &&
    response.headers.get('content-type')?.startsWith('application/problem+json') &&
    problem?.code === code &&
    problem?.status === status &&
    typeof problem?.title === 'string' &&
    typeof problem?.detail === 'string' &&
    typeof problem?.type === 'string' &&
    typeof problem?.requestId === 'string' &&
    problem.requestId === response.headers.get('x-request-id');
  if (!ok) {
    throw new Error(
      `expected ${status} ${code} problem+json, got ${response.status} ${response.headers.get('content-type')} ${JSON.stringify(problem)}`,
    );
  }
  return problem;
}
