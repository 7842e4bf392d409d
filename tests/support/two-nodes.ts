import { afterAll, beforeAll } from 'vitest';
import { type ApiClient, apiClient, type TestUser } from './api.js';
import { type ServerProcess, startServerProcess } from './server.js';
import { connectWs, type TestSocket } from './ws-client.js';

export interface TwoNodes {
  nodeA: ServerProcess;
  nodeB: ServerProcess;
  apiA: ApiClient;
  apiB: ApiClient;
  /** A WebSocket of `user` on `node`, closed after the suite. */
  connect(node: ServerProcess, user: TestUser): Promise<TestSocket>;
}

/**
 * Two real server processes sharing the one Redis and Cassandra, started before the suite and
 * stopped after it (with every socket `connect` opened). Events must cross nodes to pass.
 */
export function useTwoNodes(name: string, overrides: Record<string, string> = {}): TwoNodes {
  const sockets: TestSocket[] = [];
  const nodes = {
    async connect(node: ServerProcess, user: TestUser) {
      const socket = await connectWs(node.url, user.token);
      sockets.push(socket);
      return socket;
    },
  } as TwoNodes;
  beforeAll(async () => {
    [nodes.nodeA, nodes.nodeB] = await Promise.all([
      startServerProcess({ NODE_ID: `${name}-a`, ...overrides }),
      startServerProcess({ NODE_ID: `${name}-b`, ...overrides }),
    ]);
    nodes.apiA = apiClient(nodes.nodeA.url);
    nodes.apiB = apiClient(nodes.nodeB.url);
  });
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await Promise.all([nodes.nodeA?.stop('SIGTERM'), nodes.nodeB?.stop('SIGTERM')]);
  });
  return nodes;
}
