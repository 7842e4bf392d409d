import type { Container } from '../../src/container.js';

/** One statement a container sent to Cassandra: its CQL (a batch lists its statements). */
export interface RecordedCall {
  method: 'execute' | 'batch' | 'eachRow' | 'stream';
  queries: string[];
}

/**
 * Records the statements a container really sends to Cassandra, by wrapping its driver client's
 * methods (the calls still go to Cassandra). `only` keeps the calls with a matching query (for a
 * batch: any of its statements), e.g. to leave out the sync reporter's background position writes.
 */
export function recordCassandraCalls(container: Container, only?: (query: string) => boolean) {
  const client = container.deps.cassandra as unknown as Record<string, (...args: unknown[]) => unknown>;
  const recorded: RecordedCall[] = [];
  const names = ['execute', 'batch', 'eachRow', 'stream'] as const;
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const name of names) {
    const original = client[name];
    if (typeof original !== 'function') continue;
    originals.set(name, original);
    client[name] = function (this: unknown, ...args: unknown[]) {
      const queries = queriesOf(args[0]);
      if (!only || queries.some(only)) recorded.push({ method: name, queries });
      return original.apply(this, args);
    };
  }
  return {
    recorded,
    get calls() {
      return recorded.length;
    },
    reset() {
      recorded.length = 0;
    },
    restore() {
      for (const [name, original] of originals) client[name] = original;
    },
  };
}

function queriesOf(first: unknown): string[] {
  if (typeof first === 'string') return [first];
  if (Array.isArray(first)) {
    return first.map((item) => (typeof item === 'string' ? item : String((item as { query?: unknown }).query)));
  }
  return [String(first)];
}
