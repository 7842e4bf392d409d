import { pino } from 'pino';
import type { Config } from './config.js';

export type Logger = pino.Logger;

/**
 * Structured JSON logs. Message content, passwords and tokens are never logged: request bodies
 * are not logged at all, and the redaction below catches headers that carry secrets.
 */
export function createLogger(config: Pick<Config, 'log' | 'nodeId'>): Logger {
  return pino({
    level: config.log.level,
    base: { node: config.nodeId ?? undefined },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.token', '*.content'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
