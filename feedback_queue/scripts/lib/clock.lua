-- Library: Redis's own clock. Liveness is judged in this time only: a heartbeat is stamped by
-- the server that stores it and judged by the same server, never by comparing two hosts' clocks.
-- (Redis 7 replicates a script's effects, not the script, so TIME is allowed before writes.)

-- Now, in ms, by the Redis server's clock.
local function redis_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
