-- Reads the newest entries of a recent-messages window (cache/recent-messages.ts, cache/README.md).
--
-- KEYS[1]  the window: a sorted set, every score 0, so members sort by their bytes.
--          `<26-char ULID><json>` message entries (id order), then meta members, which start with
--          `~` and so sort after every entry: `~p` pending (created by a miss, trusted by no one),
--          `~f0` / `~f1` filled by a Cassandra read (incomplete / holding the whole conversation).
-- ARGV[1]  k: how many entries the caller needs, newest first.
-- ARGV[2]  T (ms): the longest a window may live after the read that fills it started.
--
-- Returns {1, entries} when the window is filled and holds k entries or the whole conversation;
-- otherwise {0, now}: a miss, with Redis's clock (ms) before the caller reads Cassandra. A miss on
-- an absent key creates it pending, expiring at now + T, so appends made while the caller reads
-- Cassandra land in it and the fill unions them. An existing key is never extended.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local marks = redis.call('ZMSCORE', key, '~f0', '~f1')
if marks[1] or marks[2] then
  local k = tonumber(ARGV[1])
  local entries = redis.call('ZREVRANGEBYLEX', key, '(~', '-', 'LIMIT', 0, k)
  if #entries >= k or marks[2] then return {1, entries} end
  return {0, now}
end
if redis.call('EXISTS', key) == 0 then
  redis.call('ZADD', key, 0, '~p')
  redis.call('PEXPIREAT', key, now + tonumber(ARGV[2]))
end
return {0, now}
