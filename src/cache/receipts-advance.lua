-- Write-through of a watermark that moved in Cassandra (cache/receipts-cache.ts).
--
-- KEYS[1]  the receipts hash (layout in receipts-read.lua).
-- ARGV[1]  user id.  ARGV[2]  message id.  ARGV[3]  'delivered' or 'read' (read implies delivered).
--
-- Returns 1 when applied, 0 when there is no entry (never creates one, never touches the expiry).
-- Every write is a per-field maximum, as in Cassandra, so advances and fills commute.
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local field = 'u:' .. ARGV[1]
local old = redis.call('HGET', key, field)
local d, r = '', ''
if old then d, r = string.match(old, '^([^|]*)|(.*)$') end
if ARGV[2] > d then d = ARGV[2] end
if ARGV[3] == 'read' and ARGV[2] > r then r = ARGV[2] end
redis.call('HSET', key, field, d .. '|' .. r)
return 1
