-- Write-through of one message, after it is durable in Cassandra (cache/recent-messages.ts).
--
-- KEYS[1]  the window (layout in recent-read.lua).
-- ARGV[1]  the message's entry, `<ULID><json>`.
-- ARGV[2]  capacity: the window keeps its newest this many entries.
--
-- Returns 1 when added, 0 when there is no window (filled or pending), -1 when the window held
-- another state of this message and was deleted. An append never creates a
-- key (it would hold a partial window with no expiry) and never touches the expiry: misses and
-- fills set it, and fills only ever earlier. ZADD of the same entry
-- twice is a no-op, so appends and fills commute. Trimming drops the oldest entries; a trimmed
-- window no longer holds the whole conversation.
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
-- Another state of the same message (a retried send appending the original after an edit): the
-- window cannot tell which is newer, so it goes (the next read refills from Cassandra).
local id = string.sub(ARGV[1], 1, 26)
local same = redis.call('ZRANGEBYLEX', key, '[' .. id .. '[', '(' .. id .. '\\', 'LIMIT', 0, 1)
if same[1] and same[1] ~= ARGV[1] then
  redis.call('DEL', key)
  return -1
end
redis.call('ZADD', key, 0, ARGV[1])
local cap = tonumber(ARGV[2])
local n = redis.call('ZLEXCOUNT', key, '-', '(~')
if n > cap then
  redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
  if redis.call('ZREM', key, '~f1') == 1 then redis.call('ZADD', key, 0, '~f0') end
end
return 1
