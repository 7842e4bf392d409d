/**
 * A set that forgets its oldest entries past a capacity: for per-process memos of facts that
 * never become false (a user exists, a bucket index row was written), so memory stays bounded.
 */
export function createBoundedSet(capacity: number) {
  const entries = new Set<string>();
  return {
    has: (key: string) => entries.has(key),
    add(key: string) {
      if (entries.has(key)) return;
      entries.add(key);
      if (entries.size > capacity) {
        const oldest = entries.values().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    get size() {
      return entries.size;
    },
  };
}

export type BoundedSet = ReturnType<typeof createBoundedSet>;
