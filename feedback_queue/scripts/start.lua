-- Mark one job ACTIVE after BLMOVE put it in the worker's processing list (the idle path).
-- KEYS[1] = this worker's processing list   KEYS[2] = waiting list
-- KEYS[3] = paused flag                      KEYS[4] = job key prefix
-- ARGV[1] = now (ms)   ARGV[2] = worker id   ARGV[3] = job id
-- Returns the record, or false when the job is gone, finished, or the queue was paused while
-- BLMOVE waited (then the id goes back to the consuming end of waiting, first in line).
local now, worker, id = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[3]) == 1 then
  if redis.call('LREM', KEYS[1], 1, id) == 1 then
    redis.call('RPUSH', KEYS[2], id)
  end
  return false
end
return mark_active(KEYS[4] .. id, KEYS[1], id, worker, now)
