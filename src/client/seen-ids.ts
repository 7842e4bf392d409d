/**
 * The ids already handed to `on('message')`, bounded (oldest forgotten first). A message can
 * arrive twice by design: live and again in the catch-up that follows `ready` or `resync` (a
 * message stored between connect and catch-up comes both ways), or as a retried publish.
 */
export function createSeenIds(max = 20_000) {
  const ids = new Set<string>();
  return {
    /** true the first time an id is offered, false after. */
    add(id: string): boolean {
      if (ids.has(id)) return false;
      ids.add(id);
      if (ids.size > max) ids.delete(ids.values().next().value as string);
      return true;
    },
  };
}
