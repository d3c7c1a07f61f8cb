-- Library: Redis's own clock, the only clock the queue's rules read. Heartbeats, leases, delays,
-- backoffs, promotion, the rate limits and idempotency expiry are all stamped and judged in the
-- time of the server that stores them, never by comparing two hosts' clocks.
-- (Redis 7 replicates a script's effects, not the script, so TIME is allowed before writes.)

-- Now, in ms, by the Redis server's clock.
local function redis_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The time a script acts at, in ms: Redis's clock, unless `fixed` (the script's "now" argument)
-- is a positive number. Only a test's clock sends one (Queue's `clock`, to age delays and
-- backoffs without waiting); the services send 0.
local function now_ms(fixed)
  local ms = tonumber(fixed)
  if ms and ms > 0 then
    return ms
  end
  return redis_ms()
end
