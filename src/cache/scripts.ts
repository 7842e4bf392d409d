import { readFileSync } from 'node:fs';
import type { RedisClient } from './client.js';

/** The cache's Lua scripts: one `.lua` file each (KEYS/ARGV in its header), one key each. */
const SCRIPTS = {
  recentRead: 'recent-read.lua',
  recentAppend: 'recent-append.lua',
  recentFill: 'recent-fill.lua',
  receiptsRead: 'receipts-read.lua',
  receiptsAdvance: 'receipts-advance.lua',
  receiptsFill: 'receipts-fill.lua',
  membersRead: 'members-read.lua',
  membersFill: 'members-fill.lua',
} as const;

export type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number;
export type CacheScripts = Record<ScriptName, (key: string, ...args: Arg[]) => Promise<unknown>>;

/**
 * Registers every cache script on the client with `defineCommand` (EVALSHA, falling back to EVAL
 * when Redis lost its script cache, e.g. after a restart) and answers them as functions of their
 * one key. The files are read once, here, not at import time.
 */
export function defineCacheScripts(redis: RedisClient): CacheScripts {
  const commands = redis as unknown as Record<string, (key: string, ...args: Arg[]) => Promise<unknown>>;
  const scripts = {} as CacheScripts;
  for (const [name, file] of Object.entries(SCRIPTS) as Array<[ScriptName, string]>) {
    const command = `sbCache${name[0]?.toUpperCase()}${name.slice(1)}`;
    if (!(command in commands)) {
      redis.defineCommand(command, {
        numberOfKeys: 1,
        lua: readFileSync(new URL(`./${file}`, import.meta.url), 'utf8'),
      });
    }
    scripts[name] = (key, ...args) =>
      (commands[command] as (key: string, ...args: Arg[]) => Promise<unknown>).call(redis, key, ...args);
  }
  return scripts;
}

/** Redis TIME-based `now` from a miss reply, or undefined when the reply is not one. */
export function missTime(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || reply[0] !== 0) return undefined;
  const now = Number(reply[1]);
  return Number.isFinite(now) ? now : undefined;
}
