import type { Hook } from '@hono/zod-openapi';
import { issuesFrom, validationError } from './problem.js';

/**
 * Every route's validation failure becomes VALIDATION_FAILED with `issues`, rendered by the
 * app's error handler like any other error.
 */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by routes of every Env and path type.
export const validationHook: Hook<unknown, any, any, unknown> = (result, _c) => {
  if (!result.success) {
    const target = (result as { target?: string }).target ?? '';
    const prefix = target === 'json' ? 'body' : target === 'param' ? 'params' : target;
    throw validationError(issuesFrom(result.error.issues, prefix));
  }
};

export const hookOptions = { defaultHook: validationHook };
