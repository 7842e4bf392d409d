import type { Container } from '../../src/container.js';

/**
 * Resolves once the node's stable position has passed `id`: from then on a catch-up page
 * (`after=`) read through that node returns the message. Bounded: rejects after `timeoutMs`.
 */
export async function settledPast(container: Container, id: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await container.deps.sync.position.current()) <= id) {
    if (Date.now() > deadline) throw new Error(`stable position did not pass ${id} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
