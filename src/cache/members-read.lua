-- Reads the cached member ids of a group, replaced as a whole (cache/members-cache.ts).
--
-- KEYS[1]  the member ids (string: JSON array).
--
-- Returns {1, value} when present; otherwise {0, now}: Redis's clock (ms) before the caller reads
-- Cassandra, from which the fill's absolute expiry is computed.
local value = redis.call('GET', KEYS[1])
if value then return {1, value} end
local t = redis.call('TIME')
return {0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
