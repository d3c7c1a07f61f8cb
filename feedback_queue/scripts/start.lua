-- Mark one job ACTIVE after BLMOVE put it in the worker's processing list (the idle path).
-- uses: clock, limiter, started
-- KEYS[1] = this worker's processing list   KEYS[2] = waiting list
-- KEYS[3] = paused flag   KEYS[4] = job key prefix   KEYS[5] = rate limiter
-- KEYS[6] = started hash              KEYS[7] = stats hash (the fence counter)
-- KEYS[8] = workers zset
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = worker id   ARGV[3] = job id
-- ARGV[4] = global rate: jobs per period (0: no limit)   ARGV[5] = that period (ms)
-- Returns {state, now, record, token}: TAKE_OK with the record and the attempt's fence token (no
-- token, and record '', when the job is gone or finished), or,
-- with no record, TAKE_PAUSED when the queue was paused while BLMOVE waited, or the ms to wait
-- when the global rate limit (no TTL) allows no start now. In those two cases the id goes back to the consuming end of
-- waiting, first in line, untouched.
local now, worker, id = now_ms(ARGV[1]), ARGV[2], ARGV[3]
-- The id must still be in this worker's list: the reaper may have handed it back between the
-- BLMOVE and now (a list whose worker was not registered), and it is no longer ours to start.
if not redis.call('LPOS', KEYS[1], id) then
  return {TAKE_OK, now, ''}
end
local state = TAKE_OK
if redis.call('EXISTS', KEYS[3]) == 1 then
  state = TAKE_PAUSED
else
  local allowed, wait = gcra_admit(KEYS[5], now, tonumber(ARGV[4]), tonumber(ARGV[5]), 1)
  if allowed == 0 then
    state = wait
  end
end
if state ~= TAKE_OK then
  if redis.call('LREM', KEYS[1], 1, id) == 1 then
    redis.call('RPUSH', KEYS[2], id)
  end
  return {state, now, ''}
end
-- Registered, as take_jobs does: the reaper finds every processing list that holds a started job.
register(KEYS[8], worker)
local fence = draw_fences(KEYS[7], 1) + 1
local raw, token = mark_active(KEYS[4] .. id, KEYS[1], KEYS[6], id, worker, now, fence)
if not raw then
  return {TAKE_OK, now, ''}
end
return {TAKE_OK, now, raw, token}
