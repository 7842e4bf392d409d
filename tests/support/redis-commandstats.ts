import type { Redis } from 'ioredis';

/** Calls per command as Redis counts them (`INFO commandstats`: a script's own calls included). */
export async function commandCalls(redis: Pick<Redis, 'info'>): Promise<Map<string, number>> {
  const info = (await redis.info('commandstats')) as string;
  const calls = new Map<string, number>();
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([\w|]+):calls=(\d+)/.exec(line.trim());
    if (match) calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}
