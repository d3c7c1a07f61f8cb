-- Library: the watch for gaps in the fleet's heartbeats, one rule for beat.lua and reapable.lua.
-- uses: clock
--
-- Silence counts only while Redis could hear it. In a live fleet some worker beats at least every
-- third of the grace (worker_service/housekeeping.py). Finding the fleet's latest beat older than
-- half the grace means that nobody reached Redis for a while: Redis was down, restarted from its
-- AOF, failed over or out of reach, or the whole fleet had stopped. The other beats are stale
-- because of that gap, not because those workers died. A calm of one whole grace begins, in which
-- the reaper takes nobody; every live worker beats again within it, and one still silent after it
-- is reaped. An outage shorter than half the grace needs no calm: a live worker's beat is then at
-- most a third plus a half of the grace old when the reaper looks. A false alarm (a fleet that
-- really had stopped) only makes a reap one grace later.

-- If the latest beat in `workers_key` is older than half of `grace` (ms) at `now` (ms, Redis's
-- clock), start a calm in `reaper_key` and return true.
local function calm_after_gap(workers_key, reaper_key, now, grace)
  local latest = redis.call('ZRANGE', workers_key, -1, -1, 'WITHSCORES')[2]
  if latest and now - tonumber(latest) > grace / 2 then
    redis.call('HSET', reaper_key, 'calm', now + grace)
    return true
  end
  return false
end
