-- Fills a recent-messages window from a Cassandra read (cache/recent-messages.ts, cache/README.md).
--
-- KEYS[1]  the window (layout in recent-read.lua).
-- ARGV[1]  expire-at (ms, Redis clock): the `now` the miss returned, before Cassandra was read, + T.
-- ARGV[2]  capacity: the window keeps its newest this many entries.
-- ARGV[3]  1 when the read returned the whole conversation (fewer rows than asked), else 0.
-- ARGV[4…] the entries read, `<ULID><json>`.
--
-- Returns 1 when applied, 0 when expire-at has already passed (the read took longer than T; the
-- window it would make could break the bound, so nothing is stored), -1 when an entry read is
-- another state of a message the window holds (edited, deleted or reacted to between the two
-- reads): the window is deleted, since which state is newer cannot be told from the entries, and
-- keeping both would show the message twice. The entries are *unioned*
-- with what is there (appends made meanwhile, an earlier fill): every entry is a durable message,
-- so order does not matter. The expiry only ever moves earlier (PEXPIREAT … LT), so no fill, and
-- no append, can make a window outlive T after the read of the fill that started it. A window
-- already filled keeps its completeness flag (a stale read must not claim completeness); a new
-- one takes the read's.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expireAt = tonumber(ARGV[1])
if expireAt <= now then return 0 end
local marks = redis.call('ZMSCORE', key, '~f0', '~f1')
for i = 4, #ARGV do
  local id = string.sub(ARGV[i], 1, 26)
  local same = redis.call('ZRANGEBYLEX', key, '[' .. id .. '[', '(' .. id .. '\\', 'LIMIT', 0, 1)
  if same[1] and same[1] ~= ARGV[i] then
    redis.call('DEL', key)
    return -1
  end
  redis.call('ZADD', key, 0, ARGV[i])
end
redis.call('ZREM', key, '~p')
local complete = marks[2] ~= false
if not (marks[1] or marks[2]) then complete = ARGV[3] == '1' end
local cap = tonumber(ARGV[2])
local n = redis.call('ZLEXCOUNT', key, '-', '(~')
if n > cap then
  redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
  complete = false
end
redis.call('ZREM', key, '~f0', '~f1')
redis.call('ZADD', key, 0, complete and '~f1' or '~f0')
redis.call('PEXPIREAT', key, expireAt, 'LT')
return 1
