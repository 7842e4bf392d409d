import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { startServerProcess } from '../support/server.js';
import { connectWs } from '../support/ws-client.js';

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  route?: string;
  method?: string;
  status?: number;
  [key: string]: unknown;
}

describe('structured logs', () => {
  it('write one JSON line per request with its request id, and never message content, passwords or tokens', async () => {
    const node = await startServerProcess({ LOG_LEVEL: 'info' });
    const marker = `secret-content-${randomBytes(8).toString('hex')}`;
    const traceId = `ops-log-${randomBytes(6).toString('hex')}`;
    const forgedToken = `eyJhbGciOiJIUzI1NiJ9.${randomBytes(12).toString('hex')}.forged`;
    let tokens: string[] = [];
    try {
      const api = apiClient(node.url);
      const alice = await registerUser(api, 'logs');
      const bob = await registerUser(api, 'logs');
      tokens = [alice.token, bob.token];

      // A WebSocket authenticated by query string: the URL with the token must not be logged.
      const socket = await connectWs(node.url, bob.token, { via: 'query' });
      const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: marker }, alice.token, {
        'x-request-id': traceId,
      });
      expect(sent.status).toBe(201);
      await socket.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
      expect((await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token)).status).toBe(200);
      // Failures: a forged token, malformed JSON, an unknown route.
      expect((await api.get('/api/v1/users/me', forgedToken)).status).toBe(401);
      expect(
        (
          await api.request('POST', '/api/v1/messages', {
            token: alice.token,
            rawBody: `{"content": "${marker}"`,
            headers: { 'content-type': 'application/json' },
          })
        ).status,
      ).toBe(400);
      expect((await api.get(`/no/such/${marker}`)).status).toBe(404);
      await socket.close();
    } finally {
      expect(await node.stop('SIGTERM')).toBe(0);
    }

    const output = node.output();
    const raw = output.split('\n').filter((line) => line.length > 0);
    // Structured: every line is one JSON object.
    const entries = raw.map((line) => JSON.parse(line) as LogLine);

    const requests = entries.filter((entry) => entry.msg === 'request');
    // startServerProcess polls /readyz, then 2 registrations, send, history, 3 failures.
    expect(requests.length).toBeGreaterThanOrEqual(8);
    for (const entry of requests) {
      expect(entry.requestId, JSON.stringify(entry)).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(typeof entry.route).toBe('string');
      expect(typeof entry.status).toBe('number');
    }
    // The client's X-Request-Id is the one logged for its request.
    expect(requests).toContainEqual(
      expect.objectContaining({ requestId: traceId, method: 'POST', route: '/api/v1/messages', status: 201 }),
    );
    // Ids are per request.
    const ids = requests.map((entry) => entry.requestId);
    expect(new Set(ids).size).toBe(ids.length);

    // Nothing secret, anywhere in the output (stdout and stderr).
    expect(output).not.toContain(marker);
    expect(output).not.toContain('correct-horse-battery');
    expect(output).not.toContain(forgedToken);
    for (const token of tokens) {
      expect(output).not.toContain(token);
      // Not even the signature part on its own.
      expect(output).not.toContain(token.split('.')[2]);
    }
  });
});
