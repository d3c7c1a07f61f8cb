-- Housekeeping: forget expired idempotency keys and trim the completed and cancelled indexes,
-- one bounded batch of each per call (the caller, Housekeeping.sweep, calls again until a batch
-- comes back short).
-- uses: clock
-- KEYS[1] = idem hash   KEYS[2] = idem-expiry zset   KEYS[3] = completed index zset
-- KEYS[4] = cancelled index zset
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)
-- ARGV[2] = retention (ms): what completed longer ago than that has expired
-- ARGV[3] = at most this many of each per call
-- ARGV[4] = how long (ms) the cancelled index keeps an id: the longer of the retention and the
-- idempotency TTL, since a duplicate submit reads it once the record is gone (enqueue.lua)
-- Returns idempotency keys forgotten (at most ARGV[3]), then completed and cancelled index
-- entries trimmed (each at most ARGV[3], and those of the same ms as the last of them).
-- Replay-safe: what is forgotten or trimmed is no longer found.
local now, limit = now_ms(ARGV[1]), tonumber(ARGV[3])
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, key in ipairs(keys) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
end

-- Index `index` up to its limit-th entry older than `keep` ms (a few more when several share
-- the ms of that one), else all of its expired part.
local function trim(index, keep)
  local expired = string.format('(%.0f', now - keep)
  local edge = redis.call('ZRANGEBYSCORE', index, '-inf', expired, 'WITHSCORES', 'LIMIT', limit - 1, 1)
  return redis.call('ZREMRANGEBYSCORE', index, '-inf', edge[2] or expired)
end

return {#keys, trim(KEYS[3], tonumber(ARGV[2])), trim(KEYS[4], tonumber(ARGV[4]))}
