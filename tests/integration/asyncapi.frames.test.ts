import specs from '@asyncapi/specs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_FRAME_TYPES, serverFrameSchema } from '../../src/asyncapi.js';
import { CLIENT_FRAME_TYPES } from '../../src/ws/protocol.js';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, type Frame, type TestSocket } from '../support/ws-client.js';

/**
 * The AsyncAPI document (GET /api/v1/asyncapi.json) against the protocol as it runs: every frame
 * type is in it, and the frames a real connection receives satisfy the schemas it publishes.
 */
describe('the WebSocket protocol document', () => {
  let server: TestServer;
  let api: ApiClient;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    server = await startServer({ PRESENCE_VISIBILITY: 'everyone', WS_TYPING_MIN_INTERVAL_MS: '0' });
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await server?.close();
  });

  it('is served without a token and names every client and server frame type', async () => {
    const response = await fetch(`${server.url}/api/v1/asyncapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const document = (await response.json()) as any;
    expect(document.asyncapi).toBe('3.0.0');
    // Valid AsyncAPI 3.0: the specification's own JSON Schema (@asyncapi/specs) accepts it.
    const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
    addFormats.default(ajv);
    const validate = ajv.compile(specs.schemasWithoutId['3.0.0'] as object);
    expect(validate(document) ? [] : validate.errors).toEqual([]);
    const named = (operation: string) =>
      document.operations[operation].messages.map((ref: { $ref: string }) => {
        const message = document.components.messages[ref.$ref.split('/').pop() as string];
        expect(message.payload.properties.type.const).toBe(message.name);
        return message.name;
      });
    expect(named('receiveClientFrames').sort()).toEqual([...CLIENT_FRAME_TYPES].sort());
    expect(named('sendServerFrames').sort()).toEqual(
      [
        ...['ready', 'error', 'pong', 'resync', 'settled', 'message.created', 'message.updated', 'message.deleted'],
        ...['reaction.updated', 'message.status'],
        ...['presence', 'typing', 'group.updated', 'member.added', 'member.removed', 'member.updated'],
      ].sort(),
    );
  });

  it('describes the frames a connection really receives', async () => {
    const [alice, bob] = await Promise.all([registerUser(api, 'doc'), registerUser(api, 'doc')]);
    const [aliceSocket, bobSocket] = await Promise.all([
      connectWs(server.url, alice.token),
      connectWs(server.url, bob.token),
    ]);
    sockets.push(aliceSocket, bobSocket);
    aliceSocket.send({ type: 'presence.subscribe', data: { userIds: [bob.id] } });
    await aliceSocket.waitFor('presence', (data) => data.userId === bob.id);
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'documented' }, alice.token);
    expect(sent.status).toBe(201);
    const { conversationId, id } = sent.body.message;
    await bobSocket.waitFor('message.created', (data) => data.message.id === id);
    bobSocket.send({ type: 'read', data: { conversationId, messageId: id } });
    await aliceSocket.waitFor('message.status', (data) => data.readUpTo === id);
    bobSocket.send({ type: 'typing', data: { conversationId } });
    await aliceSocket.waitFor('typing', (data) => data.userId === bob.id);
    aliceSocket.send({ type: 'ping', data: { n: 1 } });
    await aliceSocket.waitFor('pong');
    aliceSocket.send({ type: 'ack', id: 'bad-frame', data: { conversationId, messageId: 'not-a-ulid' } });
    await aliceSocket.waitFor('error');
    await Promise.all([aliceSocket.waitFor('settled'), bobSocket.waitFor('settled')]);

    const received: Frame[] = [...aliceSocket.frames, ...bobSocket.frames];
    const types = new Set(received.map((frame) => frame.type));
    expect([...types].sort()).toEqual(
      ['ready', 'settled', 'presence', 'message.created', 'message.status', 'typing', 'pong', 'error'].sort(),
    );
    for (const frame of received) {
      expect(SERVER_FRAME_TYPES).toContain(frame.type);
      const checked = serverFrameSchema(frame.type as (typeof SERVER_FRAME_TYPES)[number]).safeParse(frame);
      expect(checked.success ? 'conforms' : checked.error.issues, `${frame.type}: ${JSON.stringify(frame)}`).toBe(
        'conforms',
      );
    }
  });
});
