import { Pool } from 'undici';

/** A keep-alive HTTP client for one API node: `connections` sockets, no pipelining. */
export interface BenchHttp {
  /** JSON in, parsed JSON out; throws on a status other than `expect`. */
  request<T = unknown>(
    method: 'GET' | 'POST',
    path: string,
    options?: { token?: string; body?: unknown; expect?: number; headers?: Record<string, string> },
  ): Promise<T>;
  close(): Promise<void>;
}

export function createHttp(baseUrl: string, connections: number): BenchHttp {
  const pool = new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  return {
    async request<T>(
      method: 'GET' | 'POST',
      path: string,
      options: { token?: string; body?: unknown; expect?: number; headers?: Record<string, string> } = {},
    ): Promise<T> {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      }
      const response = await pool.request({ method, path, headers, ...(body === undefined ? {} : { body }) });
      const text = await response.body.text();
      const expected = options.expect ?? (method === 'POST' ? 201 : 200);
      if (response.statusCode !== expected) {
        throw new Error(`${method} ${path.split('?')[0]}: ${response.statusCode} ${text.slice(0, 200)}`);
      }
      return (text.length > 0 ? JSON.parse(text) : undefined) as T;
    },
    close: () => pool.close(),
  };
}
