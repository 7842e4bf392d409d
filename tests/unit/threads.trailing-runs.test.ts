import { describe, expect, it } from 'vitest';
import { createTrailingRuns } from '../../src/services/messages/trailing-runs.js';

/** The reply recount's coalescing: every caller is answered by a run that started after its call. */
describe('trailing runs per key', () => {
  it('answers a call made while a run is going with a new run that starts after it, and joins calls made meanwhile', async () => {
    const run = createTrailingRuns<number>();
    const started: number[] = [];
    let release: () => void = () => {};
    let runs = 0;
    const job = () => {
      const n = ++runs;
      started.push(n);
      return new Promise<number>((resolve) => {
        release = () => resolve(n);
      });
    };
    const first = run('root', job);
    await Promise.resolve();
    await Promise.resolve();
    expect(started).toEqual([1]);
    // Three replies land while the first recount runs: one recount after it serves all three.
    const later = [run('root', job), run('root', job), run('root', job)];
    release();
    expect(await first).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(started).toEqual([1, 2]);
    release();
    expect(await Promise.all(later)).toEqual([2, 2, 2]);
  });

  it('runs other keys independently, and a failed run does not block the next', async () => {
    const run = createTrailingRuns<string>();
    const failing = run('a', () => Promise.reject(new Error('Cassandra away')));
    const other = run('b', async () => 'b');
    await expect(failing).rejects.toThrow('Cassandra away');
    expect(await other).toBe('b');
    expect(await run('a', async () => 'again')).toBe('again');
  });
});
