import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { type ServerProcess, startServer, startServerProcess } from '../support/server.js';

/** Resolves once `output()` contains `text`; bounded so a missing line fails the test. */
async function waitForOutput(proc: ServerProcess, text: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!proc.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`"${text}" never appeared in the output:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A POST held in flight: it sends `Expect: 100-continue`, so the server answers "100 Continue"
 * once it has parsed the headers (the request is then open on the server), and the body goes
 * out only when `finish()` is called. Goes through a keep-alive agent, the case that keeps a
 * closing server waiting when it is handled wrong.
 */
function heldPost(url: string, path: string, token: string, body: string) {
  const agent = new Agent({ keepAlive: true });
  let finish: () => void = () => {};
  let arrived: () => void = () => {};
  const onServer = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('continue', () => arrived());
    req.flushHeaders();
    finish = () => req.end(body);
  });
  return { onServer, response, finish: () => finish(), close: () => agent.destroy() };
}

describe('graceful shutdown', () => {
  let proc: ServerProcess | undefined;

  afterEach(async () => {
    if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
    proc = undefined;
  });

  it('completes a send that is in flight when SIGTERM arrives, refuses new connections, and exits 0 within the grace period', async () => {
    proc = await startServerProcess({ LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '30000' });
    const running = proc;
    const api = apiClient(running.url);
    const alice = await registerUser(api, 'shut');
    const bob = await registerUser(api, 'shut');
    const content = `in flight at shutdown ${Date.now()}`;
    const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));

    const send = heldPost(
      running.url,
      '/api/v1/messages',
      alice.token,
      JSON.stringify({ receiverId: bob.id, content }),
    );
    await send.onServer;
    running.child.kill('SIGTERM');
    await waitForOutput(running, '"shutting down"');

    // Stop accepting: a new connection is refused while the old request is still open.
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();

    send.finish();
    const response = await send.response;
    send.close();
    expect(response.status).toBe(201);
    const sent = JSON.parse(response.body).message as { id: string; content: string };
    expect(sent.content).toBe(content);

    // Exit code 0 means every step finished inside SHUTDOWN_GRACE_MS (1 when stragglers were cut off).
    expect(await exited).toBe(0);
    expect(running.output()).toContain('"stopped"');

    // The message is durable: another node reads it back.
    const reader = await startServer();
    try {
      const history = await apiClient(reader.url).get(`/api/v1/messages?peerId=${alice.id}`, bob.token);
      expect(history.status).toBe(200);
      expect(history.body.messages.map((message: { id: string }) => message.id)).toContain(sent.id);
    } finally {
      await reader.close();
    }
  });

  it('exits 0 on SIGTERM while an idle keep-alive connection is open', async () => {
    proc = await startServerProcess({ LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '30000' });
    // A keep-alive connection left idle must not hold the shutdown open until the deadline.
    const agent = new Agent({ keepAlive: true });
    const idle = await new Promise<number>((resolve, reject) =>
      request(`${proc?.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
        .on('error', reject)
        .end(),
    );
    expect(idle).toBe(200);
    expect(await proc.stop('SIGTERM')).toBe(0);
    agent.destroy();
    expect(proc.output()).toContain('"stopped"');
  });
});
