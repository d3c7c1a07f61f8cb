-- Queue counts in one round trip.
-- uses: clock
-- KEYS[1] = fair hash (field waiting)   KEYS[2] = delayed zset   KEYS[3] = failed zset
-- KEYS[4] = workers zset   KEYS[5] = stats hash     KEYS[6] = paused flag
-- KEYS[7] = processing list prefix
-- ARGV[1] = grace (ms): workers that beat within it (by Redis's clock) count as live
-- Returns waiting, active, delayed, failed, live workers, paused, then the stats hash as
-- field, value pairs.
local active = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  active = active + redis.call('LLEN', KEYS[7] .. worker)
end
local out = {
  tonumber(redis.call('HGET', KEYS[1], 'waiting') or 0),
  active,
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCOUNT', KEYS[4], redis_ms() - tonumber(ARGV[1]), '+inf'),
  redis.call('EXISTS', KEYS[6]),
}
for _, v in ipairs(redis.call('HGETALL', KEYS[5])) do
  out[#out + 1] = v
end
return out
