/**
 * Coalesces work per key so that every call is answered by a run that *started after the call*,
 * with at most one run going and one waiting per key: calls made while a run is waiting join it
 * (it has not started, so it still starts after them); calls made while one is going queue one
 * new run behind it.
 *
 * Why: each thread reply recounts its thread after its own insert (threads.ts). 32 replies at
 * once into a 5,000-reply thread made 32 concurrent COUNTs over it, 750 ms p50 each on the test
 * machine (tests/bench/thread-summary.ts); coalesced, a node runs at most two at a time per root
 * and every reply is still counted by a recount that began after it landed.
 */
export function createTrailingRuns<T>() {
  const waiting = new Map<string, Promise<T>>();
  const going = new Map<string, Promise<T>>();
  return function run(key: string, job: () => Promise<T>): Promise<T> {
    const joined = waiting.get(key);
    if (joined) return joined;
    const previous = going.get(key);
    const next: Promise<T> = (previous ? previous.then(ignore, ignore) : Promise.resolve())
      .then(() => {
        waiting.delete(key);
        going.set(key, next);
        return job();
      })
      .finally(() => {
        if (going.get(key) === next) going.delete(key);
      });
    waiting.set(key, next);
    return next;
  };
}

const ignore = () => {};
