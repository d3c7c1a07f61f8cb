-- Housekeeping: forget expired idempotency keys and trim the completed index.
-- KEYS[1] = idem hash   KEYS[2] = idem-expiry zset   KEYS[3] = completed index zset
-- ARGV[1] = now (ms)   ARGV[2] = completed before this (ms) have expired   ARGV[3] = at most
-- Returns idempotency keys forgotten, completed index entries trimmed.
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, key in ipairs(keys) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
end
local trimmed = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
return {#keys, trimmed}
