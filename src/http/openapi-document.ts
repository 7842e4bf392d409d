import pino from 'pino';
import { createApp, type HttpDeps } from './app.js';

/**
 * The OpenAPI document exactly as GET /api/v1/openapi.json serves it, built without Cassandra or
 * Redis: routes register their schemas when the app is built and no handler runs, so the services
 * can be empty. Used by `npm run client:types` (the SDK's generated types) and by the unit test of
 * the document; one builder, so the two cannot read different documents.
 */
export async function buildOpenApiDocument(settings: { maxGroupMembers: number; bodyLimitBytes: number }) {
  const none = {} as never;
  const deps: HttpDeps = {
    logger: pino({ level: 'silent' }),
    tokens: none,
    accounts: none,
    groups: none,
    messaging: none,
    health: none,
    presence: none,
    blocks: { service: none, maxPerUser: 1000 },
    ...settings,
  };
  const response = await createApp(deps).request('/api/v1/openapi.json');
  if (response.status !== 200) throw new Error(`openapi.json answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}
