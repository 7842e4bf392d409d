import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { type ClientSet, connectEach, type ServerFrame } from '../lib/ws-clients.js';

/**
 * The smallest client of Centrifugo's JSON protocol (v2) over `/connection/websocket` that the
 * fan-out comparison needs: a `connect` command with a JWT whose `channels` claim subscribes the
 * connection server-side, answers to the server's pings, and publications handed to the same
 * frame handler as Switchboard's clients get. What the harness publishes is a Switchboard
 * `message.created` frame, so the collector and the bytes on the wire are the same for both.
 */
export interface PeerUser {
  id: string;
  channels: string[];
}

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** A connection token: HS256 JWT with `sub`, `exp` and the `channels` of server-side subscriptions. */
export function connectionToken(secret: string, user: PeerUser): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(
    JSON.stringify({ sub: user.id, exp: Math.floor(Date.now() / 1000) + 3600, channels: user.channels }),
  );
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

interface Reply {
  id?: number;
  error?: { code: number; message: string };
  connect?: { client: string; subs?: Record<string, unknown> };
  push?: { channel: string; pub?: { data?: ServerFrame } };
}

/**
 * Connects one client per user, `concurrency` handshakes at a time, like `connectClients`:
 * offering permessage-deflate (Centrifugo declines it unless configured), ready once the connect
 * reply came back with the subscriptions live.
 */
export function connectCentrifugoClients(
  baseUrl: string,
  secret: string,
  users: readonly PeerUser[],
  concurrency = 100,
): Promise<ClientSet> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/connection/websocket`;
  return connectEach(
    users,
    concurrency,
    (user) => open(url, connectionToken(secret, user), user.channels.length),
    (data, socket) => {
      const frames: ServerFrame[] = [];
      // One WebSocket message may carry several replies, newline-separated.
      for (const line of data.toString().split('\n')) {
        if (line === '{}') socket.send('{}'); // the server's ping: answer it or be disconnected
        const frame = parse(line)?.push?.pub?.data;
        if (frame) frames.push(frame);
      }
      return frames;
    },
  );
}

function parse(line: string): Reply | undefined {
  try {
    return JSON.parse(line) as Reply;
  } catch {
    return undefined;
  }
}

/** Opens a socket, sends `connect`, resolves when the reply shows every expected subscription. */
function open(url: string, token: string, subscriptions: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: true });
    const timer = setTimeout(() => fail(new Error('no connect reply in 10 s')), 10_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.terminate();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('open', () => {
      socket.send(JSON.stringify({ id: 1, connect: { token, name: 'switchboard-bench' } }));
    });
    const onMessage = (data: WebSocket.RawData) => {
      const reply = data
        .toString()
        .split('\n')
        .map(parse)
        .find((r) => r?.id === 1);
      if (!reply) return;
      socket.off('message', onMessage);
      socket.off('error', fail);
      socket.on('error', () => {}); // later errors surface as a close
      clearTimeout(timer);
      const subs = Object.keys(reply.connect?.subs ?? {}).length;
      if (reply.error) fail(new Error(`connect refused: ${reply.error.code} ${reply.error.message}`));
      else if (subs < subscriptions) fail(new Error(`connected with ${subs} of ${subscriptions} subscriptions`));
      else resolve(socket);
    };
    socket.on('message', onMessage);
  });
}
