-- A worker's heartbeat, stamped with Redis's time (the reaper judges it by the same clock).
-- uses: clock
-- KEYS[1] = workers zset
-- ARGV[1] = worker id
-- Returns the stamp (ms).
local now = redis_ms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
