import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { type Connection, createConnection } from '../../src/ws/connection.js';

/** Just enough of a ws socket to drive a Connection without a network. */
class SocketStub extends EventEmitter {
  bufferedAmount = 0;
  sent: string[] = [];
  closes: Array<[number, string]> = [];
  pings = 0;
  terminated = 0;
  send(text: string) {
    this.sent.push(text);
  }
  close(code: number, reason: string) {
    this.closes.push([code, reason]);
  }
  ping() {
    this.pings++;
  }
  terminate() {
    this.terminated++;
    this.emit('close', 1006, Buffer.alloc(0));
  }
}

function setUp(options: { maxBufferedBytes?: number; heartbeatMs?: number } = {}) {
  const socket = new SocketStub();
  const closing: number[] = [];
  const connection: Connection = createConnection({
    socket: socket as unknown as WebSocket,
    id: 'c1',
    userId: 'u1',
    heartbeatMs: options.heartbeatMs ?? 1000,
    maxBufferedBytes: options.maxBufferedBytes ?? 100,
    onClosing: async (_connection, code) => {
      closing.push(code);
    },
  });
  return { socket, connection, closing };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Connection', () => {
  it('holds frames back until open() sends ready first', () => {
    const { socket, connection } = setUp();
    connection.send('early');
    expect(socket.sent).toEqual([]);
    connection.open('ready');
    connection.send('late');
    expect(socket.sent).toEqual(['ready', 'early', 'late']);
  });

  it('closes as a slow consumer (4000) instead of sending past the buffer limit', () => {
    const { socket, connection, closing } = setUp({ maxBufferedBytes: 100 });
    connection.open('ready');
    socket.bufferedAmount = 101;
    expect(connection.send('more')).toBe(false);
    expect(socket.closes).toEqual([[4000, 'slow consumer']]);
    expect(closing).toEqual([4000]);
    expect(connection.state).toBe('closing');
    expect(connection.send('after')).toBe(false);
    expect(socket.sent).toEqual(['ready']);
  });

  it('closes once however often close is called, and runs onClosing once', () => {
    const { socket, connection, closing } = setUp();
    connection.open('ready');
    connection.close(1001, 'server shutting down');
    connection.close(1000, 'again');
    socket.emit('close', 1001, Buffer.alloc(0));
    expect(socket.closes).toEqual([[1001, 'server shutting down']]);
    expect(closing).toEqual([1001]);
    expect(connection.state).toBe('closed');
  });

  it('runs onClosing when the peer closes first', async () => {
    const { socket, connection, closing } = setUp();
    connection.open('ready');
    socket.emit('close', 1000, Buffer.alloc(0));
    await connection.closed;
    expect(closing).toEqual([1000]);
    expect(connection.state).toBe('closed');
  });

  it('pings on every beat and terminates a peer that missed a pong', () => {
    vi.useFakeTimers();
    const { socket, connection } = setUp({ heartbeatMs: 1000 });
    connection.open('ready');
    vi.advanceTimersByTime(1000);
    expect(socket.pings).toBe(1);
    socket.emit('pong');
    vi.advanceTimersByTime(1000);
    expect(socket.pings).toBe(2);
    expect(socket.terminated).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(socket.terminated).toBe(1);
    expect(connection.state).toBe('closed');
  });

  it('cuts a socket whose peer never answers the closing handshake', () => {
    vi.useFakeTimers();
    const { socket, connection } = setUp();
    connection.open('ready');
    connection.close(4000, 'slow consumer');
    vi.advanceTimersByTime(10_000);
    expect(socket.terminated).toBe(1);
  });
});
