/**
 * Where the sync loop keeps its server-issued cursors between runs: the inbox's `syncCursor` and
 * one `cursor` per conversation. Kept per user, so two accounts on one device never share them.
 * Without persistence a reload starts from the beginning and replays every conversation's history;
 * with it, a reload catches up from where the last run stopped.
 */
export interface SyncState {
  syncCursor?: string | undefined;
  cursors: Record<string, string>;
}

export interface CursorStore {
  load(userId: string): SyncState | undefined | Promise<SyncState | undefined>;
  save(userId: string, state: SyncState): void | Promise<void>;
}

/** The default: kept in memory, gone with the page or process. */
export function memoryCursorStore(): CursorStore {
  const states = new Map<string, SyncState>();
  return {
    load: (userId) => {
      const state = states.get(userId);
      return state && { syncCursor: state.syncCursor, cursors: { ...state.cursors } };
    },
    save: (userId, state) => {
      states.set(userId, { syncCursor: state.syncCursor, cursors: { ...state.cursors } });
    },
  };
}

/** The part of the Web Storage API the adapter uses (window.localStorage fits). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Browsers: JSON under `<prefix><userId>` in localStorage (or any StorageLike). A value that does
 * not parse (another app's key, a hand edit) is ignored: starting over replays history, while a
 * made-up cursor would be refused by the server with 400 on every catch-up.
 */
export function localStorageCursorStore(
  storage: StorageLike = (globalThis as { localStorage?: StorageLike }).localStorage as StorageLike,
  prefix = 'switchboard:sync:',
): CursorStore {
  return {
    load(userId) {
      try {
        const parsed = JSON.parse(storage.getItem(prefix + userId) ?? 'null') as SyncState | null;
        if (!parsed || typeof parsed.cursors !== 'object' || parsed.cursors === null) return undefined;
        return parsed;
      } catch {
        return undefined;
      }
    },
    save(userId, state) {
      // A full or blocked storage (quota, private mode) only costs a longer catch-up next time.
      try {
        storage.setItem(prefix + userId, JSON.stringify(state));
      } catch {}
    },
  };
}
