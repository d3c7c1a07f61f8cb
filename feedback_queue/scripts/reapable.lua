-- The workers the reaper may reap: silent for longer than the grace by Redis's clock, the clock
-- that stamped their beats; none during a calm after a gap in the fleet's beats (beat.lua).
-- uses: clock
-- KEYS[1] = workers zset   KEYS[2] = reaper hash (field calm)
-- ARGV[1] = grace (ms)
-- Returns the ids of the silent workers. The reaper is a worker, and beats before it reaps.
local now = redis_ms()
if now < tonumber(redis.call('HGET', KEYS[2], 'calm') or 0) then
  return {}
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
