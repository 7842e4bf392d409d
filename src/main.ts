import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from './config.js';
import { createContainer } from './container.js';

/** Process entry: config → container → listen → signals. */
async function main() {
  let config: ReturnType<typeof loadConfig>;
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
  const { logger } = container;
  const server = serve({ fetch: container.app.fetch, hostname: config.http.host, port: config.http.port }, (info) =>
    logger.info({ port: info.port, node: container.nodeId }, 'switchboard listening'),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.warn('grace period over; exiting');
      process.exit(1);
    }, config.http.shutdownGraceMs);
    deadline.unref();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await container.close();
    clearTimeout(deadline);
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`switchboard: failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
