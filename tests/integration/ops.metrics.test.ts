import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs } from '../support/ws-client.js';

/** One sample line of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] as string] = pair[2] as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
    .reduce((sum, s) => sum + s.value, 0);
}

describe('GET /metrics', () => {
  let node: ServerProcess;

  beforeAll(async () => {
    node = await startServerProcess();
  });

  afterAll(async () => {
    await node?.stop();
  });

  const scrape = async () => {
    const response = await fetch(`${node.metricsUrl}/metrics`);
    expect(response.status).toBe(200);
    return { contentType: response.headers.get('content-type'), text: await response.text() };
  };

  it('serves every listed series in the Prometheus text format, without authentication', async () => {
    const { contentType, text } = await scrape();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const declared = Object.fromEntries(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1] as string, match[2] as string]),
    );
    expect(declared).toMatchObject({
      switchboard_http_request_duration_seconds: 'histogram',
      switchboard_ws_connections: 'gauge',
      switchboard_messages_sent_total: 'counter',
      switchboard_fanout_deliveries_total: 'counter',
      switchboard_cache_hits_total: 'counter',
      switchboard_cache_misses_total: 'counter',
      switchboard_cassandra_request_duration_seconds: 'histogram',
      switchboard_redis_command_duration_seconds: 'histogram',
      process_cpu_seconds_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
    });
    // Every line parses: a scraper would reject the whole page otherwise.
    expect(parseSamples(text).length).toBeGreaterThan(0);
  });

  it('moves the request, message, fan-out, connection, Cassandra and Redis series when traffic flows', async () => {
    const api = apiClient(node.url);
    const alice = await registerUser(api, 'metric');
    const bob = await registerUser(api, 'metric');
    const before = parseSamples((await scrape()).text);

    const socket = await connectWs(node.url, bob.token);
    const duringConnection = parseSamples((await scrape()).text);
    expect(total(duringConnection, 'switchboard_ws_connections')).toBe(total(before, 'switchboard_ws_connections') + 1);

    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'counted' }, alice.token);
    expect(sent.status).toBe(201);
    await socket.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
    const history = await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    expect(history.status).toBe(200);
    await socket.close();

    const after = parseSamples((await scrape()).text);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      total(after, name, labels) - total(before, name, labels);

    expect(delta('switchboard_messages_sent_total', { kind: 'direct' })).toBe(1);
    expect(delta('switchboard_messages_sent_total', { kind: 'group' })).toBe(0);
    expect(
      delta('switchboard_http_request_duration_seconds_count', {
        route: '/api/v1/messages',
        method: 'POST',
        status: '201',
      }),
    ).toBe(1);
    expect(
      delta('switchboard_http_request_duration_seconds_count', {
        route: '/api/v1/messages',
        method: 'GET',
        status: '200',
      }),
    ).toBe(1);
    // Bob's one connection received the message.created frame.
    expect(delta('switchboard_fanout_deliveries_total', { event: 'message.created' })).toBe(1);
    expect(
      delta('switchboard_cassandra_request_duration_seconds_count', { statement: 'insert messages' }),
    ).toBeGreaterThan(0);
    expect(delta('switchboard_cassandra_request_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(0);
    // The send published its fan-out event through Redis.
    expect(delta('switchboard_redis_command_duration_seconds_count', { command: 'publish' })).toBeGreaterThan(0);

    // The gauge follows the close back down (the server sees the close shortly after the client).
    const deadline = Date.now() + 10_000;
    let connections = total(after, 'switchboard_ws_connections');
    while (connections !== total(before, 'switchboard_ws_connections') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      connections = total(parseSamples((await scrape()).text), 'switchboard_ws_connections');
    }
    expect(connections).toBe(total(before, 'switchboard_ws_connections'));
  });

  it('counts cache misses and hits as history is read through the Redis cache', async () => {
    const api = apiClient(node.url);
    const alice = await registerUser(api, 'metric');
    const bob = await registerUser(api, 'metric');
    expect((await api.post('/api/v1/messages', { receiverId: bob.id, content: 'cached' }, alice.token)).status).toBe(
      201,
    );
    const before = parseSamples((await scrape()).text);
    // The same first page twice: whatever the first read found, the second is answered from Redis.
    for (let i = 0; i < 2; i++)
      expect((await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token)).status).toBe(200);
    const after = parseSamples((await scrape()).text);
    const delta = (name: string, labels: Record<string, string>) =>
      total(after, name, labels) - total(before, name, labels);
    expect(delta('switchboard_cache_hits_total', { cache: 'recent' })).toBeGreaterThanOrEqual(1);
    expect(
      delta('switchboard_cache_hits_total', { cache: 'recent' }) +
        delta('switchboard_cache_misses_total', { cache: 'recent' }),
    ).toBe(2);
  });

  it('labels requests by route pattern, never by the concrete path, so ids do not explode the series', async () => {
    const api = apiClient(node.url);
    const user = await registerUser(api, 'metric');
    expect((await api.get(`/api/v1/users/${user.id}`, user.token)).status).toBe(200);
    const { text } = await scrape();
    expect(text).toContain('route="/api/v1/users/:userId"');
    expect(text).not.toContain(user.id);
  });
});
