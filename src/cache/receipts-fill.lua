-- Fills a conversation's watermarks from a Cassandra read (cache/receipts-cache.ts, cache/README.md).
--
-- KEYS[1]  the receipts hash (layout in receipts-read.lua).
-- ARGV[1]  expire-at (ms, Redis clock): the `now` the miss returned, before Cassandra was read, + T.
-- ARGV[2…] (user id, deliveredUpTo, readUpTo) triples, '' for none.
--
-- Returns 1 when applied, 0 when expire-at has passed (nothing stored). Each field becomes the
-- maximum of what is there and what was read, so a read from before an advance cannot move a
-- watermark back. The expiry only ever moves earlier (PEXPIREAT … LT).
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expireAt = tonumber(ARGV[1])
if expireAt <= now then return 0 end
for i = 2, #ARGV, 3 do
  local field = 'u:' .. ARGV[i]
  local old = redis.call('HGET', key, field)
  local d, r = '', ''
  if old then d, r = string.match(old, '^([^|]*)|(.*)$') end
  if ARGV[i + 1] > d then d = ARGV[i + 1] end
  if ARGV[i + 2] > r then r = ARGV[i + 2] end
  redis.call('HSET', key, field, d .. '|' .. r)
end
redis.call('HDEL', key, '~p')
redis.call('HSET', key, '~f', '1')
redis.call('PEXPIREAT', key, expireAt, 'LT')
return 1
