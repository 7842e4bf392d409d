import type { IdSource } from '../../domain/ids.js';

/**
 * The sends of this node that have a message id but have not settled (stored and confirmed, or
 * aborted for good). Minting and registering happen in one synchronous step, so no id exists
 * that the position below does not account for: were they two steps, a report between them
 * would announce a position above an id about to be inserted, and a reader at that position
 * would skip the message.
 */
export function createInFlight(ids: IdSource) {
  // Ids come from one strictly increasing source, so insertion order is id order and the first
  // element is always the oldest unsettled id (delete keeps the order of the rest).
  const open = new Set<string>();
  return {
    mint(): string {
      const id = ids.next();
      open.add(id);
      return id;
    },
    settle(id: string): void {
      open.delete(id);
    },
    /** No id below this is unsettled here or will be minted here: min(oldest open, lower bound of future ids). */
    position(): string {
      const future = ids.lowerBound();
      const oldest: string | undefined = open.values().next().value;
      if (oldest === undefined) return future;
      return oldest < future ? oldest : future;
    },
    get size() {
      return open.size;
    },
  };
}

export type InFlight = ReturnType<typeof createInFlight>;
