import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a real service, so a test can cut the service off from the
 * app (and restore it) without stopping the shared service other tests use.
 */
export interface TcpProxy {
  port: number;
  /** The proxy as a Redis URL, for proxies in front of Redis. */
  url: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /**
   * Holds every byte the service sends back for `ms` (0: none) on every connection, in order:
   * requests reach the service at once and are executed, their answers come late. So a client
   * timeout shorter than `ms` makes a write that times out *and* lands.
   */
  delayReplies(ms: number): void;
  /**
   * In front of Cassandra: holds for `ms` (0: none) only the answers to writes (CQL v4 RESULT
   * frames of kind Void), so reads stay fast while a write times out at the client and lands.
   * CQL multiplexes requests by stream id, so answering frames out of order is legal.
   */
  delayCqlWriteReplies(ms: number): void;
  /**
   * Delays every byte sent towards the service by `ms` (order kept; 0 ends it): a slow link, so
   * requests still arrive, only late (as a write that outlives its send deadline does).
   */
  delay(ms: number): void;
  /** Connections open through the proxy now. */
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  let replyDelayMs = 0;
  let writeReplyDelayMs = 0;
  let requestDelayMs = 0;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    // Requests in order, each released no earlier than its arrival plus the delay in force then.
    let requestsReleasedAt = 0;
    client.on('data', (chunk: Buffer) => {
      const at = Math.max(Date.now() + requestDelayMs, requestsReleasedAt);
      requestsReleasedAt = at;
      if (at <= Date.now()) upstream.write(chunk);
      else setTimeout(() => upstream.writable && upstream.write(chunk), at - Date.now());
    });
    // Replies in order, each released no earlier than its arrival plus the delay in force then.
    let releasedAt = 0;
    let held = 0;
    let pending = Buffer.alloc(0);
    /** Splits CQL v4 frames (9-byte header, length at offset 5) and holds write answers. */
    function forwardCql(chunk: Buffer) {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const total = 9 + pending.readUInt32BE(5);
        if (pending.length < total) return;
        const frame = pending.subarray(0, total);
        pending = pending.subarray(total);
        const isWriteResult = frame[4] === 0x08 && frame.length >= 13 && frame.readInt32BE(9) === 1;
        if (isWriteResult) setTimeout(() => client.writable && client.write(frame), writeReplyDelayMs);
        else client.write(frame);
      }
    }
    upstream.on('data', (chunk: Buffer) => {
      if (writeReplyDelayMs > 0 || pending.length > 0) {
        forwardCql(chunk);
        return;
      }
      const at = Math.max(Date.now() + replyDelayMs, releasedAt);
      releasedAt = at;
      if (held === 0 && at <= Date.now()) {
        client.write(chunk);
        return;
      }
      held++;
      setTimeout(
        () => {
          held--;
          if (client.writable) client.write(chunk);
        },
        Math.max(0, at - Date.now()),
      );
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    delayReplies(ms) {
      replyDelayMs = ms;
    },
    delayCqlWriteReplies(ms) {
      writeReplyDelayMs = ms;
    },
    delay(ms) {
      requestDelayMs = ms;
    },
    // Each connection is a pair (client side and upstream), added and dropped together.
    connections: () => sockets.size / 2,
    close: () =>
      new Promise<void>((resolve) => {
        open = false;
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
