import type { Logger } from '../logger.js';

/** Per-request values on the Hono context. Services come by closure, not through here. */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    userId: string;
  };
}
