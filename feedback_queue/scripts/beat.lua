-- A worker's heartbeat, stamped with Redis's time; a beat after a gap in the fleet's beats starts
-- a calm (lib/watch.lua).
-- uses: clock, watch
-- KEYS[1] = workers zset   KEYS[2] = reaper hash (field calm)
-- ARGV[1] = worker id      ARGV[2] = grace (ms)
-- Returns the stamp (ms).
local now = redis_ms()
calm_after_gap(KEYS[1], KEYS[2], now, tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
