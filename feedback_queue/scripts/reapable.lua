-- The workers the reaper may reap: silent for longer than the grace by Redis's clock, the clock
-- that stamped their beats; none during a calm after a gap in the fleet's beats (lib/watch.lua).
-- uses: clock, watch
-- KEYS[1] = workers zset   KEYS[2] = reaper hash (field calm)
-- ARGV[1] = grace (ms)
-- Returns the ids of the silent workers.
-- The reaper is a worker and beats before it reaps, so the fleet's latest beat is fresh. If it is
-- stale, this pass comes right after a gap (the reaper's own turn was held up by the outage), and
-- the calm begins now.
local now, grace = redis_ms(), tonumber(ARGV[1])
if calm_after_gap(KEYS[1], KEYS[2], now, grace) then
  return {}
end
if now < tonumber(redis.call('HGET', KEYS[2], 'calm') or 0) then
  return {}
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - grace))
