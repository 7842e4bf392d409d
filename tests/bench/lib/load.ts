import { setTimeout as sleep } from 'node:timers/promises';
import { round } from './stats.js';

/** What one load run produced: a latency per successful task, and the failures. */
export interface LoadResult {
  latenciesMs: number[];
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  /** Successful tasks per second over the whole run. */
  throughput: number;
}

/** One unit of work; it throws (or rejects) when the request failed. */
export type Task = (index: number) => Promise<void>;

const now = () => Number(process.hrtime.bigint()) / 1e6;

function collector() {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  return {
    async run(task: Task, index: number, startedAt: number) {
      try {
        await task(index);
        latenciesMs.push(now() - startedAt);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    },
    result(elapsedMs: number): LoadResult {
      return {
        latenciesMs,
        errors,
        firstError,
        elapsedMs: round(elapsedMs),
        throughput: round((latenciesMs.length / elapsedMs) * 1000, 1),
      };
    },
  };
}

/**
 * Closed loop: `concurrency` workers run tasks 0..total-1 back to back, each starting the next as
 * soon as its previous one finished. Measures the highest rate the system sustains at that
 * concurrency.
 */
export async function closedLoop(options: { total: number; concurrency: number; task: Task }): Promise<LoadResult> {
  const results = collector();
  let next = 0;
  const started = now();
  const worker = async () => {
    while (next < options.total) {
      const index = next++;
      await results.run(options.task, index, now());
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.total) }, worker));
  return results.result(now() - started);
}

/**
 * Open loop: task i is due at start + i / rate, whether or not earlier ones finished (at most
 * `maxInFlight` at once). Latency counts from the due time, so time spent queued behind a slow
 * system is part of it (no coordinated omission).
 */
export async function openLoop(options: {
  rate: number;
  durationMs: number;
  maxInFlight: number;
  task: Task;
}): Promise<LoadResult> {
  const results = collector();
  const total = Math.max(1, Math.floor((options.rate * options.durationMs) / 1000));
  const interval = 1000 / options.rate;
  const inFlight = new Set<Promise<void>>();
  const started = now();
  for (let index = 0; index < total; index++) {
    const due = started + index * interval;
    const wait = due - now();
    if (wait >= 1) await sleep(wait);
    while (inFlight.size >= options.maxInFlight) await Promise.race(inFlight);
    const running = results.run(options.task, index, due).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }
  await Promise.all(inFlight);
  return results.result(now() - started);
}

/** Runs `work` over items with at most `concurrency` at once (set-up work, not measured). */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
