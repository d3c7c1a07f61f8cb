-- Move up to N waiting jobs, oldest first, into a worker's processing list and mark them ACTIVE.
-- The backlog path of reserve: one round trip for many jobs.
-- KEYS[1] = waiting list   KEYS[2] = this worker's processing list
-- KEYS[3] = paused flag    KEYS[4] = job key prefix
-- ARGV[1] = now (ms)   ARGV[2] = worker id   ARGV[3] = N
-- Returns id1, record1, id2, record2, ... (nothing while the queue is paused).
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {}
end
local now, worker, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local ids = redis.call('LRANGE', KEYS[1], -n, -1)
if #ids == 0 then
  return {}
end
redis.call('LTRIM', KEYS[1], 0, -#ids - 1)
local out = {}
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
