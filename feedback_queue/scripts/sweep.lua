-- Housekeeping: forget expired idempotency keys and trim the completed index, one bounded batch
-- of each per call (the caller, Housekeeping.sweep, calls again until a batch comes back short).
-- KEYS[1] = idem hash   KEYS[2] = idem-expiry zset   KEYS[3] = completed index zset
-- ARGV[1] = now (ms)   ARGV[2] = completed before this (ms) have expired
-- ARGV[3] = at most this many of each per call
-- Returns idempotency keys forgotten, completed index entries trimmed (each at most ARGV[3]).
-- Replay-safe: what is forgotten or trimmed is no longer found.
local limit = tonumber(ARGV[3])
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)
for _, key in ipairs(keys) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
end
local done = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit)
for _, id in ipairs(done) do
  redis.call('ZREM', KEYS[3], id)
end
return {#keys, #done}
