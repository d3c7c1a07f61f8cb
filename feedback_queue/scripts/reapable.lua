-- The workers the reaper may reap: silent for longer than the grace by Redis's clock, the clock
-- that stamped their beats (beat.lua). No two hosts' clocks are compared.
-- uses: clock
-- KEYS[1] = workers zset
-- ARGV[1] = grace (ms)
-- Returns the ids of the silent workers.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (redis_ms() - tonumber(ARGV[1])))
