-- Stores the member ids read from Cassandra (cache/members-cache.ts, cache/README.md).
--
-- KEYS[1]  the member ids (string: JSON array).
-- ARGV[1]  the value.
-- ARGV[2]  expire-at (ms, Redis clock): the `now` the miss returned, before Cassandra was read, + T.
--
-- Returns 1 when stored, 0 when expire-at has passed. The value expires at expire-at whatever
-- happens next, so a read from before a change (whose best-effort delete it may overwrite) is
-- served at most T after that read started.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expireAt = tonumber(ARGV[2])
if expireAt <= now then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', expireAt)
return 1
