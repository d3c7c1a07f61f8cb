-- Housekeeping: forget expired idempotency keys and trim the completed index, one bounded batch
-- of each per call (the caller, Housekeeping.sweep, calls again until a batch comes back short).
-- uses: clock
-- KEYS[1] = idem hash   KEYS[2] = idem-expiry zset   KEYS[3] = completed index zset
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)
-- ARGV[2] = retention (ms): what completed longer ago than that has expired
-- ARGV[3] = at most this many of each per call
-- Returns idempotency keys forgotten (at most ARGV[3]), completed index entries trimmed (at
-- most ARGV[3], and those that completed in the same ms as the last of them).
-- Replay-safe: what is forgotten or trimmed is no longer found.
local now, limit = now_ms(ARGV[1]), tonumber(ARGV[3])
local expired = string.format('(%.0f', now - tonumber(ARGV[2]))
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, key in ipairs(keys) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
end
-- The completed index up to its limit-th expired entry (a few more when several completed in
-- the same ms as that one), else all of its expired part.
local edge = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', expired, 'WITHSCORES', 'LIMIT', limit - 1, 1)
local upto = edge[2] or expired
local trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', upto)
return {#keys, trimmed}
