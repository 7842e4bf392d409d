-- Reads the watermarks of a conversation (cache/receipts-cache.ts, cache/README.md).
--
-- KEYS[1]  the receipts hash: `u:<userId>` → `<deliveredUpTo>|<readUpTo>` (empty for none),
--          `~p` pending (created by a miss, trusted by no one), `~f` filled by a Cassandra read.
-- ARGV[1]  T (ms): the longest an entry may live after the read that fills it started.
--
-- Returns {1, HGETALL} when filled; otherwise {0, now} (Redis clock, ms, before the caller reads
-- Cassandra), creating an absent key pending, expiring at now + T, so receipts stored while the
-- caller reads land in it.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HEXISTS', key, '~f') == 1 then return {1, redis.call('HGETALL', key)} end
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, '~p', '1')
  redis.call('PEXPIREAT', key, now + tonumber(ARGV[1]))
end
return {0, now}
