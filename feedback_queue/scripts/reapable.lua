-- The workers the reaper may reap: silent for longer than the grace by Redis's clock, the clock
-- that stamped their beats; none during a calm after a gap in the fleet's beats (beat.lua).
-- uses: clock
-- KEYS[1] = workers zset   KEYS[2] = reaper hash (field calm)
-- ARGV[1] = grace (ms)
-- Returns the ids of the silent workers.
-- The reaper is a worker and beats before it reaps, so the fleet's latest beat is fresh. If it
-- is older than half the grace, this pass comes right after a gap (the reaper's own turn was
-- held up by the outage): the same calm as in beat.lua begins now.
local now, grace = redis_ms(), tonumber(ARGV[1])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if latest and now - tonumber(latest) > grace / 2 then
  redis.call('HSET', KEYS[2], 'calm', now + grace)
  return {}
end
if now < tonumber(redis.call('HGET', KEYS[2], 'calm') or 0) then
  return {}
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - grace))
