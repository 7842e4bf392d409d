import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type Container, createContainer } from './container.js';
import { httpServerOptions } from './http/node-server.js';

/** Process entry: config → container → listen → signals. */
async function main() {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`switchboard: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const container = await createContainer(config);
  const server = serve(
    {
      fetch: container.app.fetch,
      hostname: config.http.host,
      port: config.http.port,
      serverOptions: httpServerOptions(config.http),
    },
    (info) => container.logger.info({ port: info.port }, 'switchboard listening'),
  ) as Server;
  const metricsServer = serve(
    { fetch: container.metricsApp.fetch, hostname: config.metrics.host, port: config.metrics.port },
    (info) => container.logger.info({ host: config.metrics.host, port: info.port }, 'metrics listening'),
  ) as Server;
  metricsServer.once('error', (error) => {
    // Metrics are for operators: a taken port is logged, the API keeps serving.
    container.logger.error({ err: error, port: config.metrics.port }, 'metrics listener failed');
  });
  metricsServer.unref();
  server.once('error', (error) => {
    process.stderr.write(`switchboard: cannot listen on ${config.http.host}:${config.http.port}: ${error.message}\n`);
    void container.close().finally(() => process.exit(1));
  });
  container.attach(server);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    void shutdown(signal, server, container, config.http.shutdownGraceMs);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A safety net, not the mechanism: every request, frame and upgrade has its own boundary that
  // answers its client. A promise rejected where nobody awaits it (a bug) is logged loudly here
  // rather than ending every connection of the node (Node's default); an uncaught *exception*
  // still ends the process, as the state it leaves behind cannot be trusted.
  process.on('unhandledRejection', (reason) => {
    container.logger.error({ err: reason }, 'unhandled promise rejection (a bug: please report it)');
  });
}

/**
 * Graceful stop: stop accepting connections, tell WebSocket clients to reconnect elsewhere
 * (1001), let in-flight requests finish, then close Cassandra and Redis. Exits 0 when all of
 * that fits in the grace period, 1 when stragglers had to be cut off.
 */
async function shutdown(signal: string, server: Server, container: Container, graceMs: number) {
  const { logger } = container;
  logger.info({ signal, graceMs }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.warn('grace period over; closing remaining connections');
    server.closeAllConnections();
    void container.close().finally(() => process.exit(1));
  }, graceMs);
  deadline.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  await container.drain();
  // Idle keep-alive sockets would hold close() open; busy ones finish their request first.
  server.closeIdleConnections();
  await closed;
  await container.close();
  clearTimeout(deadline);
  logger.info('stopped');
  process.exit(0);
}

main().catch((error) => {
  // One line, whatever the driver put in its message: log collectors and humans read it whole.
  const message = String((error as Error)?.message ?? error).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`switchboard: failed to start: ${message}\n`);
  process.exit(1);
});
