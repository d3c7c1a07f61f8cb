-- Housekeeping: forget expired idempotency keys and trim the completed and cancelled indexes,
-- one bounded batch of each per call (the caller, Housekeeping.sweep, calls again until a batch
-- comes back short).
-- uses: clock
-- KEYS[1] = idem hash   KEYS[2] = idem-expiry zset   KEYS[3] = completed index zset
-- KEYS[4] = cancelled index zset   KEYS[5] = leases zset   KEYS[6] = progress hash
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)
-- ARGV[2] = retention (ms): what completed longer ago than that has expired
-- ARGV[3] = at most this many of each per call
-- ARGV[4] = how long (ms) the cancelled index keeps an id: the longer of the retention and the
-- idempotency TTL, since a duplicate submit reads it once the record is gone (enqueue.lua)
-- ARGV[5] = the heartbeat grace (ms): leases older than that renew nothing (reap.lua), so they
-- go, with their progress reports (by Redis's clock, which stamped them; an ack drops its own)
-- Returns idempotency keys forgotten (at most ARGV[3]), then completed and cancelled index
-- entries trimmed (each at most ARGV[3], and those of the same ms as the last of them), then
-- leases dropped (at most ARGV[3]).
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

local lapsed = '(' .. string.format('%.0f', redis_ms() - tonumber(ARGV[5]))
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', lapsed, 'LIMIT', 0, limit)
if #stale > 0 then
  redis.call('ZREM', KEYS[5], unpack(stale))
  redis.call('HDEL', KEYS[6], unpack(stale))
end
return {#keys, trim(KEYS[3], tonumber(ARGV[2])), trim(KEYS[4], tonumber(ARGV[4])), #stale}
