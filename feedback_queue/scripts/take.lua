-- Move up to N waiting jobs, oldest first, into a worker's processing list and mark them ACTIVE.
-- The backlog path of reserve: one round trip for many jobs.
-- KEYS[1] = waiting list   KEYS[2] = this worker's processing list
-- KEYS[3] = paused flag    KEYS[4] = job key prefix   KEYS[5] = rate limiter
-- ARGV[1] = now (ms)   ARGV[2] = worker id   ARGV[3] = N
-- ARGV[4] = global rate: jobs per period (0: no limit)   ARGV[5] = that period (ms)
-- Returns a state, then id1, record1, id2, record2, ...: state 0 normally (maybe no jobs),
-- -1 while the queue is paused, or the ms to wait while the rate limit allows none (no jobs).
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {-1}
end
local now, worker, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
n = math.min(n, redis.call('LLEN', KEYS[1]))
if n == 0 then
  return {0}
end
local allowed, wait = limiter_admit(KEYS[5], now, tonumber(ARGV[4]), tonumber(ARGV[5]), n)
if allowed == 0 then
  return {wait}
end
local ids = redis.call('LRANGE', KEYS[1], -allowed, -1)
redis.call('LTRIM', KEYS[1], 0, -#ids - 1)
local out = {0}
for i = #ids, 1, -1 do
  local id = ids[i]
  redis.call('LPUSH', KEYS[2], id)
  local raw = mark_active(KEYS[4] .. id, KEYS[2], id, worker, now)
  if raw then
    out[#out + 1] = id
    out[#out + 1] = raw
  end
end
return out
