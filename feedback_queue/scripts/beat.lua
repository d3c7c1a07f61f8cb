-- A worker's heartbeat, stamped with Redis's time; and the watch for gaps in the fleet's beats.
-- uses: clock
-- KEYS[1] = workers zset   KEYS[2] = reaper hash (field calm)
-- ARGV[1] = worker id      ARGV[2] = grace (ms)
-- Returns the stamp (ms).
--
-- Silence counts only while Redis could hear it. In a live fleet some worker beats at least every
-- third of the grace (worker_service/housekeeping.py). A beat that finds the fleet's latest beat
-- older than half the grace knows that nobody reached Redis for a while: Redis was down,
-- restarted from its AOF, failed over or out of reach, or the whole fleet had stopped. The other
-- beats are stale because of that gap, not because those workers died. It declares a calm of one
-- whole grace in which the reaper takes nobody (reapable.lua); every live worker beats again
-- within it, and one still silent after it is reaped. An outage shorter than half the grace needs
-- no calm: a live worker's beat is then at most a third plus a half of the grace old when the
-- reaper looks. A false alarm (a fleet that really had stopped) only makes a reap one grace later.
local now, grace = redis_ms(), tonumber(ARGV[2])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if latest and now - tonumber(latest) > grace / 2 then
  redis.call('HSET', KEYS[2], 'calm', now + grace)
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
