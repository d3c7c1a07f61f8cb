-- Complete jobs: drop them from the processing list, store the result, start retention.
-- KEYS[1] = this worker's processing list   KEYS[2] = waiting list   KEYS[3] = delayed zset
-- KEYS[4] = failed zset   KEYS[5] = completed index zset   KEYS[6] = stats hash
-- KEYS[7] = job key prefix
-- ARGV[1] = now (ms)   ARGV[2] = retention (ms)   then 2 per job: id, result
-- Returns how many jobs became COMPLETED. Replay-safe: a COMPLETED job is left as it is.
-- A late ack from a worker that was reaped still completes the job, and takes it out of
-- waiting, delayed or failed, so it does not run again.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local done = 0
for i = 3, #ARGV, 2 do
  local id, result = ARGV[i], ARGV[i + 1]
  local job_key = KEYS[7] .. id
  local raw = redis.call('GET', job_key)
  if redis.call('LREM', KEYS[1], 1, id) == 0 and raw then
    redis.call('LREM', KEYS[2], 1, id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  end
  if raw then
    local rec = rec_decode(raw)
    if rec.status ~= COMPLETED then
      rec.status = COMPLETED
      rec.extra.f = now
      rec.extra.r = result
      rec.extra.d = nil
      redis.call('SET', job_key, rec_encode(rec), 'PX', retention)
      redis.call('ZADD', KEYS[5], now, id)
      done = done + 1
    end
  end
end
if done > 0 then
  redis.call('HINCRBY', KEYS[6], 'completed', done)
end
return done
